"""Plans as data: read plans, targets and county quotas; planners create, copy, replace and delete them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response

from geo.errors import StaleVersion
from geo.textlists import split_list
from layers.errors import VersionRequired
from layers.plan_model import Plan, StoredPlan
from layers.plans import (
    copy_plan,
    create_plan,
    current_plan,
    delete_plan,
    get_plan,
    list_plans,
    parse_plan,
    plan_history,
    replace_plan,
)
from server.auth import PlannerDep, SessionDep
from server.caching import NO_STORE, REVALIDATE
from server.deps import RegistryDep, StoreDep
from server.responses import AUTH_RESPONSES, ERROR_RESPONSES, NaNSafeJSONResponse, html_response

router = APIRouter(tags=["Plans"], responses=ERROR_RESPONSES)

Year = Annotated[int, Path(ge=2000, le=2100, description="Plan year, e.g. 2025")]
_PLAN_EXAMPLE = {
    "year": 2026,
    "title_zh": "湘潭市2026年政府工作报告重点目标",
    "status": "draft",
    "targets": [
        {
            "layer": "farmland",
            "quote_zh": "新建和改造提升高标准农田8万亩",
            "value": 80000,
            "unit_zh": "亩",
            "unit_en": "mu",
            "measure": "sum",
            "field": "area_mu",
            "due": "2026-12-31",
            "quotas": {"430321": 36000, "430381": 29000, "430382": 9000, "430302": 6000},
        }
    ],
}
PlanBody = Annotated[dict[str, Any], Body(description="The whole plan (see the Plan schema)", examples=[_PLAN_EXAMPLE])]


def _summary(stored: StoredPlan) -> dict[str, Any]:
    plan = stored.plan
    return {
        "year": plan.year,
        "title_zh": plan.title_zh,
        "status": plan.status,
        "targets": len(plan.targets),
        "version": stored.version,
        "updated_at": stored.updated_at,
        "updated_by": stored.updated_by,
    }


def _plan_response(stored: StoredPlan, status_code: int = 200, request: Request | None = None) -> Response:
    doc = {**stored.plan.model_dump(mode="json"), "version": stored.version}
    doc["quota_sums"] = {t.layer: t.quota_sum for t in stored.plan.targets}
    headers = {"ETag": stored.etag, "Cache-Control": REVALIDATE}
    if request is not None and status_code == 201:
        headers["Location"] = str(request.url_for("getPlan", year=stored.plan.year))
    return NaNSafeJSONResponse(doc, status_code=status_code, headers=headers)


def _expected(header: str | None, stored: StoredPlan) -> int:
    """Return the version an ``If-Match`` names (the current one), or refuse: 428 without it, 412 if stale."""
    if header is None or header.strip() == "*":
        raise VersionRequired(f"send If-Match with plan {stored.plan.year}'s ETag {stored.etag}")
    if stored.etag not in split_list(header):
        raise StaleVersion(f"plan {stored.plan.year} changed (now {stored.etag}): GET it again and retry")
    return stored.version


@router.get("/plans", operation_id="getPlans", summary="The plans: years, status and which one is current")
def get_plans(store: StoreDep) -> dict[str, Any]:
    """Return every stored plan (year, title, status, version) and the current plan's year."""
    current = current_plan(store)
    return {
        "current": current.plan.year if current else None,
        "plans": [_summary(p) for p in list_plans(store)],
    }


@router.get(
    "/plans/{year}",
    operation_id="getPlan",
    name="getPlan",
    summary="A plan with its targets and county quotas",
    response_model=Plan,
)
def get_one_plan(year: Year, store: StoreDep) -> Response:
    """Return the plan of ``year`` with its version; the ETag is what If-Match must name to change it."""
    return _plan_response(get_plan(store, year))


@router.post(
    "/plans",
    operation_id="createPlan",
    summary="Create a plan (planners)",
    status_code=201,
    responses={201: {"description": "Created; Location and ETag name it"}, **AUTH_RESPONSES},
)
def post_plan(request: Request, body: PlanBody, store: StoreDep, registry: RegistryDep, who: PlannerDep) -> Response:
    """Create the plan of a year that has none (409 when it has one)."""
    plan = parse_plan(body, registry)
    return _plan_response(create_plan(store, plan, who.user), 201, request)


@router.post(
    "/plans/{year}/copy",
    operation_id="copyPlan",
    summary="Start next year's plan from this one's structure (planners)",
    status_code=201,
    responses={201: {"description": "The new draft plan"}, **AUTH_RESPONSES},
)
def post_copy(
    request: Request,
    year: Year,
    store: StoreDep,
    who: PlannerDep,
    to: Annotated[int, Query(ge=2000, le=2100, description="The new plan's year")],
) -> Response:
    """Create a draft plan for ``to`` with the same targets, units and quotas, due dates moved to that year."""
    return _plan_response(copy_plan(store, year, to, who.user), 201, request)


@router.put(
    "/plans/{year}",
    operation_id="replacePlan",
    summary="Replace a plan (planners; If-Match required)",
    responses={428: {"description": "If-Match missing"}, **AUTH_RESPONSES},
)
def put_plan(
    request: Request, year: Year, body: PlanBody, store: StoreDep, registry: RegistryDep, who: PlannerDep
) -> Response:
    """Replace the plan of ``year`` as changed from the version If-Match names (412 when another change came first)."""
    expected = _expected(request.headers.get("if-match"), get_plan(store, year))
    plan = parse_plan(body, registry)
    return _plan_response(replace_plan(store, year, plan, expected, who.user))


@router.delete(
    "/plans/{year}",
    operation_id="deletePlan",
    summary="Delete a draft plan (planners; If-Match required)",
    status_code=204,
    responses={204: {"description": "Deleted; its revisions stay"}, **AUTH_RESPONSES},
)
def remove_plan(request: Request, year: Year, store: StoreDep, who: PlannerDep) -> Response:
    """Delete a draft plan; active and closed plans are refused (close them instead)."""
    expected = _expected(request.headers.get("if-match"), get_plan(store, year))
    delete_plan(store, year, expected, who.user)
    return Response(status_code=204)


@router.get(
    "/plans/{year}/history",
    operation_id="getPlanHistory",
    summary="Every version of a plan, who made it and when (planners)",
    responses=AUTH_RESPONSES,
)
def get_plan_history(year: Year, store: StoreDep, who: PlannerDep) -> Response:
    """Return the plan's revisions, oldest first (deleted plans keep theirs)."""
    return NaNSafeJSONResponse(
        {"year": year, "revisions": plan_history(store, year)}, headers={"Cache-Control": NO_STORE}
    )


@router.get(
    "/admin/plans", operation_id="getPlansAdmin", summary="Plans admin page (planners)", include_in_schema=False
)
def plans_page(
    request: Request, store: StoreDep, registry: RegistryDep, who: PlannerDep, session: SessionDep
) -> Response:
    """Return the page where planners set each year's targets and county quotas."""
    plans = list_plans(store)
    current = current_plan(store)
    context = {
        "plans": plans,
        "current": current.plan.year if current else None,
        "layers": [{"id": x.id, "title_zh": x.title_zh} for x in registry.projects()],
        "user": who.user,
        "csrf": session.csrf_token if session else "",
    }
    response = html_response(request, "admin_plans.html", context)
    response.headers["Cache-Control"] = NO_STORE
    return response
