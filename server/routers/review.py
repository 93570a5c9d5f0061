"""The planners' review queue (/review): approve or reject field reports on layers that require review."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Form, Path, Query, Request, Response
from fastapi.responses import FileResponse

from geo.errors import GeoError
from layers.errors import LayerError, UnknownReview
from layers.photos import find_photo
from layers.review import Decision, approve, get_review, reject
from layers.review_map import pending_photo, queue_items
from server.alerting import after_write
from server.auth import PlannerDep, SessionDep
from server.caching import NO_STORE
from server.deps import LayerDep, RegistryDep, SettingsDep, StoreDep
from server.responses import AUTH_RESPONSES, ERROR_RESPONSES, html_response

router = APIRouter(tags=["Review"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})

ReviewKey = Annotated[str, Path(description="The report's review key", max_length=64, pattern=r"^[0-9a-f]{32}$")]
_HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {}}}}


@dataclass(frozen=True)
class Outcome:
    """What happened to one report of a batch decision."""

    item: str
    ok: bool
    message: str


def _decision(request: Request, planner: Any, version: int) -> Decision:
    return Decision(planner.user, version, date.today(), request.app.state.clock)


def _page(
    request: Request, store: StoreDep, registry: RegistryDep, session: SessionDep, results: list[Outcome]
) -> Response:
    context = {
        "items": queue_items(store, registry.projects()),
        "csrf": session.csrf_token if session else "",
        "results": results,
    }
    response = html_response(request, "review.html", context)
    response.headers["Cache-Control"] = NO_STORE
    return response


@router.get("/review", operation_id="getReviewQueue", summary="Reports waiting for review (planners)", responses=_HTML)
def review_queue(
    request: Request,
    store: StoreDep,
    registry: RegistryDep,
    planner: PlannerDep,
    session: SessionDep,
    status: Annotated[str | None, Query(description="pending (default), approved, rejected or all")] = "pending",
    f: Annotated[str | None, Query(description="`html` for the page, else JSON")] = None,
) -> Any:
    """Return the reports under review with a small map and the photo's distance from the project."""
    if f == "html" or (f is None and "text/html" in request.headers.get("accept", "")):
        return _page(request, store, registry, session, [])
    chosen = None if status == "all" else status
    return {"reviews": queue_items(store, registry.projects(), chosen)}


def _decide_one(
    request: Request, store: StoreDep, registry: RegistryDep, planner: Any, item: str, form: dict[str, str]
) -> Outcome:
    try:
        layer_id, key, version = item.split("/")
        layer = registry.get(layer_id)
        decision = _decision(request, planner, int(version))
        if form["action"] == "approve":
            recorded = approve(store, layer, key, decision)
            after_write(request, layer.id, str(recorded.entry.feature_id))
            return Outcome(item, True, f"已通过 approved: {recorded.entry.feature_id} (#{recorded.seq})")
        review = reject(store, layer, key, decision, form["comment"])
        after_write(request, layer.id, review.feature_id)
        return Outcome(item, True, f"已退回 rejected: {review.feature_id}")
    except (GeoError, LayerError) as exc:
        return Outcome(item, False, str(exc))
    except ValueError:
        return Outcome(item, False, f"{item!r} is not layer/key/version")


@router.post("/review", operation_id="decideReviews", summary="Approve or reject reports (planners)", responses=_HTML)
def decide(
    request: Request,
    store: StoreDep,
    registry: RegistryDep,
    planner: PlannerDep,
    session: SessionDep,
    action: Annotated[str, Form(pattern="^(approve|reject)$", description="approve or reject")],
    item: Annotated[list[str], Form(description="layer/key/version of each chosen report")],
    comment: Annotated[str, Form(max_length=2000, description="Why the reports are rejected")] = "",
) -> Response:
    """Approve or reject several reports at once; each is decided on its own and the page lists the outcomes."""
    form = {"action": action, "comment": comment}
    results = [_decide_one(request, store, registry, planner, i, form) for i in item[:200]]
    return _page(request, store, registry, session, results)


@router.post(
    "/review/{collectionId}/{key}/approve", operation_id="approveReport", summary="Approve a report (planners)"
)
def approve_report(
    request: Request,
    store: StoreDep,
    layer: LayerDep,
    key: ReviewKey,
    planner: PlannerDep,
    version: Annotated[int, Body(embed=True, description="The review's version as read")],
) -> dict[str, Any]:
    """Record the report (it counts from now on); 409 when it was decided or its project changed since."""
    recorded = approve(store, layer, key, _decision(request, planner, version))
    after_write(request, layer.id, recorded.entry.feature_id)
    return {"review": get_review(store, layer.id, key).as_json(), "seq": recorded.seq}


@router.post("/review/{collectionId}/{key}/reject", operation_id="rejectReport", summary="Reject a report (planners)")
def reject_report(
    request: Request,
    store: StoreDep,
    layer: LayerDep,
    key: ReviewKey,
    planner: PlannerDep,
    version: Annotated[int, Body(description="The review's version as read")],
    comment: Annotated[str, Body(max_length=2000, description="What the field team should change")],
) -> dict[str, Any]:
    """Send the report back with a comment the field team sees on the report page."""
    review = reject(store, layer, key, _decision(request, planner, version), comment)
    after_write(request, layer.id, review.feature_id)
    return {"review": review.as_json()}


@router.get(
    "/review/{collectionId}/{key}/photo",
    operation_id="getReviewPhoto",
    summary="The photo of a report under review (planners)",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def review_photo(
    store: StoreDep, layer: LayerDep, key: ReviewKey, planner: PlannerDep, settings: SettingsDep
) -> Response:
    """Return the report's photo (staged until approval, filed under its history entry after)."""
    review = get_review(store, layer.id, key)
    path = pending_photo(settings.store.data_dir, layer.id, dict(review.doc))
    if path is None:
        photo = (review.doc.get("extra") or {}).get("photo") or {}
        seq = review.doc.get("seq")
        path = (
            None
            if seq is None
            else find_photo(settings.store.data_dir, layer.id, review.feature_id, seq, photo.get("key"))
        )
    if path is None:
        raise UnknownReview(f"report {key} has no photo")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": NO_STORE})
