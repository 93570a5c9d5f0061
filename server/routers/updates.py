"""Progress reports from the field: post a report (optionally with a photo), read a feature's history."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import UploadFile

from geo import geojson
from geo.crs import CRS84, parse_crs
from geo.errors import DuplicateRequest, StaleVersion
from geo.storage.base import FeatureStore, ReportKey
from layers import photos, replies, stamp
from layers.audit import feature_history, history_records
from layers.errors import InvalidProgressUpdate, NotAuthenticated, PhotoTooLarge, StaleReport
from layers.evidence import EvidenceLimits, Position, evidence, split_captured_at, split_position
from layers.items import public_fields
from layers.models import Layer
from layers.review import PendingReport, Review, find_keyed_review, review_required, submit_for_review
from layers.tokens import Principal, require_county
from layers.updates import RecordedReport, parse_report, record_report
from server import uploads
from server.alerting import after_write
from server.auth import PrincipalDep, ReporterDep
from server.caching import NO_STORE, ONE_DAY, check_if_match, representation_etags
from server.deps import LayerDep, SettingsDep, StoreDep
from server.forms import read_form
from server.replays import IdempotencyKeyHeader, replay, stored_form
from server.responses import AUTH_RESPONSES, ERROR_RESPONSES, GeoJSONResponse, OutputFormat
from server.routers.features import FeatureIdParam

router = APIRouter(tags=["Progress reports"], responses=ERROR_RESPONSES)

_ETAG_FORMATS = (OutputFormat.geojson, OutputFormat.json, OutputFormat.html)
_JSON_EXAMPLE = {"status": "in_progress", "percent": 60, "date": "2025-06-20", "note": "主体完工"}
_PHOTO_SCHEMA = {"type": "object", "properties": {"photo": {"type": "string", "format": "binary"}}}
_REPORT_BODY = {
    "content": {"application/json": {"example": _JSON_EXAMPLE}, "multipart/form-data": {"schema": _PHOTO_SCHEMA}}
}


@dataclass(frozen=True)
class ReportInput:
    """The submitted report's fields, the photo bytes and the phone's position, if any."""

    fields: dict[str, Any]
    photo: bytes | None
    position: Position | None = None
    captured_at: str | None = None


async def _read_photo(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PhotoTooLarge(f"the photo is larger than {limit} bytes")
    return data


async def report_input(request: Request, settings: SettingsDep) -> ReportInput:
    """Read the report from a JSON object or from form fields with an optional ``photo`` file."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            raise InvalidProgressUpdate("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise InvalidProgressUpdate("the body must be a JSON object")
        return ReportInput(*_split_evidence(request, body, None))
    if kind not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise InvalidProgressUpdate("send the report as application/json or multipart/form-data")
    with uploads.workspace(settings.store.uploads, "report") as spool_dir:
        async with read_form(request, spool_dir) as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            upload = form.get("photo")
            photo = await _read_photo(upload, settings.api.max_photo_bytes) if isinstance(upload, UploadFile) else None
    return ReportInput(*_split_evidence(request, fields, photo))


def _split_evidence(
    request: Request, fields: dict[str, Any], photo: bytes | None
) -> tuple[dict[str, Any], bytes | None, Position | None, str | None]:
    now = datetime.fromtimestamp(request.app.state.clock(), UTC)
    rest, captured_at = split_captured_at(fields, now)
    rest, position = split_position(rest)
    return rest, photo, position, captured_at


def item_etags(request: Request, version: str) -> list[str]:
    """Return the ETags ``GET .../items/{featureId}`` gives this feature version (GeoJSON, JSON and HTML).

    The caller's own view comes first (it is the one the response carries); the public view's ETags are
    accepted too, since the precondition is about the feature's version, not who read it.
    """
    item_path = request.url.path.removesuffix("/progress")
    return representation_etags(version, request, item_path, _ETAG_FORMATS)


def _photo_extra(
    photo: photos.Photo | None, frame: Any, data_dir: Path, layer: Layer
) -> tuple[dict[str, Any], Path | None]:
    if photo is None:
        return {}, None
    extra = photos.photo_details(photo, frame.geometry.iloc[0])
    if photo.taken_at is not None:
        extra["photo"]["taken_at"] = photo.taken_at.isoformat()
    key, staged = photos.stage_photo(data_dir, layer.id, str(frame["id"].iloc[0]), photo)
    extra["photo"]["key"] = key
    return extra, staged


@dataclass(frozen=True)
class Submission:
    """A report with everything needed to record it."""

    layer: Layer
    feature_id: str
    report: ReportInput
    principal: Principal
    if_match: str | None
    key: ReportKey | None = None
    limits: EvidenceLimits = EvidenceLimits()


def evidence_limits(settings: Any) -> EvidenceLimits:
    """Return the thresholds that flag a report's evidence, from the API settings."""
    api = settings.api
    return EvidenceLimits(api.photo_max_age_days, api.report_max_distance_m, api.position_max_accuracy_m)


def report_key(layer: Layer, feature_id: str, report: ReportInput, author: str, header: str | None) -> ReportKey | None:
    """Return the report's idempotency key with the fingerprint of this request (None without the header)."""
    if header is None:
        return None
    parsed = parse_report(layer, report.fields)
    position = dataclasses.asdict(report.position) if report.position else None
    extra: dict[str, Any] = {"position": position} if position else {}
    if report.captured_at:
        extra["captured_at"] = report.captured_at
    request_hash = replies.fingerprint(feature_id, parsed, report.photo, author, extra)
    return ReportKey(replies.check_key(header), request_hash, author)


def submit(
    request: Request, store: FeatureStore, sub: Submission, data_dir: Path, max_px: int
) -> RecordedReport | Review:
    """Authorise, check the precondition and record a report; the photo is filed under its report's seq.

    On a layer whose plan requires review the report is kept for a planner instead (its photo stays
    staged until the approval files it).
    """
    parsed = parse_report(sub.layer, sub.report.fields)
    frame = store.get(sub.layer.id, sub.feature_id)
    require_county(sub.principal, frame["county"].iloc[0] if "county" in frame.columns else None)
    version = store.feature_version(sub.layer.id, sub.feature_id)  # read before the state it guards
    check_if_match(sub.if_match, item_etags(request, version))
    raw = sub.report.photo  # its size was checked while reading the upload
    photo = photos.prepare_photo(raw, len(raw), max_px) if raw else None
    extra, staged = _photo_extra(photo, frame, data_dir, sub.layer)
    if sub.report.captured_at:
        extra["captured_at"] = sub.report.captured_at  # made offline: the phone's time, not the arrival
    if photo is not None or sub.report.position is not None:
        taken = photo.taken_at if photo else None
        day = parsed.date or date.today()
        extra["evidence"] = evidence(frame.geometry.iloc[0], day, sub.report.position, taken, sub.limits)
    try:
        if review_required(store, sub.layer.id):
            pending = PendingReport(sub.layer, sub.feature_id, parsed, version, extra)
            clock = request.app.state.clock
            return submit_for_review(
                store, pending, author=sub.principal.user, today=date.today(), clock=clock, key=sub.key
            )
        recorded = record_report(
            store,
            sub.layer,
            sub.feature_id,
            parsed,
            author=sub.principal.user,
            expected_version=version,
            today=date.today(),
            extra=extra,
            key=sub.key,
        )
    except BaseException:
        if staged is not None:
            staged.unlink(missing_ok=True)
        raise
    if staged is not None:
        photos.file_photo(staged, recorded.seq)
    return recorded


def _feature_response(request: Request, store: FeatureStore, layer: Layer, feature_id: str, seq: int) -> Response:
    for _ in range(3):  # the ETag must name the state in the body: reread if a write slipped in between
        version = store.feature_version(layer.id, feature_id)
        frame = store.get(layer.id, feature_id)
        if store.feature_version(layer.id, feature_id) == version:
            break
    feature = geojson.features(frame, parse_crs(CRS84), properties=public_fields(layer))[0]
    base = str(request.url_for("getFeature", collectionId=layer.id, featureId=feature_id))
    feature["report"] = {"seq": seq, "history": f"{base}/history"}
    return GeoJSONResponse(feature, headers={"ETag": item_etags(request, version)[0], "Cache-Control": NO_STORE})


def earlier_answer(request: Request, store: FeatureStore, sub: Submission) -> Response | None:
    """Return the first answer to a report already recorded under the submission's key, or None.

    A report recorded but not yet answered (its request still running, or cut off after the commit) is
    answered here from the feature's state; whichever answer is kept first is the one every retry gets.
    """
    if sub.key is None:
        return None
    held = find_keyed_review(store, sub.layer.id, sub.key)
    if held is not None:
        return replay({"status": 202, "body": review_body(held), "headers": {"content-type": "application/json"}})
    found = replies.find_reply(store, sub.layer.id, sub.key.key, sub.key.request_hash)
    if found is None:
        return None
    if found.response is None:
        built = _feature_response(request, store, sub.layer, found.feature_id, found.seq)
        found = store.save_reply(sub.layer.id, sub.key.key, stored_form(built))
    return replay(found.response or {})


def review_body(review: Review) -> dict[str, Any]:
    """Return the 202 answer's body for a report held for review."""
    return {"review": review.as_json(), "message": "待审核: the report counts once a planner approves it"}


def kept_answer(store: FeatureStore, sub: Submission, response: Response) -> Response:
    """Keep the answer to a keyed report; return it, or the one kept first by a retry that overtook it."""
    if sub.key is None:
        return response
    ours = stored_form(response)
    kept = store.save_reply(sub.layer.id, sub.key.key, ours)
    return response if kept.response == ours else replay(kept.response or ours)


def stale_report(request: Request, store: FeatureStore, sub: Submission, exc: StaleVersion) -> StaleReport:
    """Return the 412 error for a report that met a newer version, saying whether sending it again is safe."""
    parsed = parse_report(sub.layer, sub.report.fields)
    details = replies.resubmit_verdict(store, sub.layer, sub.feature_id, parsed, date.today())
    details["current"]["etag"] = item_etags(request, store.feature_version(sub.layer.id, sub.feature_id))[0]
    return StaleReport(str(exc), details)


@router.post(
    "/collections/{collectionId}/items/{featureId}/progress",
    operation_id="postProgress",
    name="postProgress",
    summary="Report a feature's progress (field teams)",
    response_class=GeoJSONResponse,
    openapi_extra={"requestBody": _REPORT_BODY},
    responses={
        200: {"description": "The updated feature; `ETag` is its new version"},
        202: {"description": "The layer's reports wait for review: the report is pending (待审核), nothing changed"},
        **AUTH_RESPONSES,
        412: {
            **ERROR_RESPONSES[400],
            "description": "`If-Match` is not the feature's current ETag; `current` and `resubmitSafe` say "
            "whether sending the report again with `current.etag` is safe",
        },
        422: {**ERROR_RESPONSES[400], "description": "`Idempotency-Key` was used for a different report"},
        413: {**ERROR_RESPONSES[400], "description": "The photo or the body is too large"},
        428: {**ERROR_RESPONSES[400], "description": "`If-Match` is missing (or `*`)"},
    },
)
def post_progress(
    request: Request,
    layer: LayerDep,
    featureId: FeatureIdParam,
    principal: ReporterDep,  # before the body: callers without a token get 401 whatever they send
    report: Annotated[ReportInput, Depends(report_input)],
    store: StoreDep,
    settings: SettingsDep,
    if_match: Annotated[str | None, Header(description="The feature's ETag from `GET .../items/{featureId}`")] = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Append a progress report to the history and move the feature's current state, in one transaction."""
    key = report_key(layer, featureId, report, principal.user, idempotency_key)
    sub = Submission(layer, featureId, report, principal, if_match, key, evidence_limits(settings))
    earlier = earlier_answer(request, store, sub)  # before If-Match: a retry's ETag has moved with its own report
    if earlier is not None:
        return earlier
    try:
        recorded = submit(request, store, sub, settings.store.data_dir, settings.api.photo_max_px)
    except (DuplicateRequest, StaleVersion) as exc:
        # A concurrent attempt with the same key may have committed since the first look: replay its answer.
        earlier = earlier_answer(request, store, sub)
        if earlier is not None:
            return earlier
        if isinstance(exc, StaleVersion):
            raise stale_report(request, store, sub, exc) from None
        raise
    if isinstance(recorded, Review):
        return JSONResponse(review_body(recorded), status_code=202, headers={"Cache-Control": NO_STORE})
    after_write(request, layer.id, featureId)
    return kept_answer(store, sub, _feature_response(request, store, layer, featureId, recorded.seq))


@router.get(
    "/collections/{collectionId}/items/{featureId}/history",
    operation_id="getFeatureHistory",
    name="getFeatureHistory",
    summary="A feature's progress history",
)
def history(layer: LayerDep, featureId: FeatureIdParam, store: StoreDep, principal: PrincipalDep) -> dict[str, Any]:
    """Return every report on a feature, oldest first (author and photo position for token holders only)."""
    frame = feature_history(store, layer.id, featureId)
    entries = history_records(frame, private=principal is not None)
    return {"collection": layer.id, "feature": featureId, "numberReturned": len(entries), "entries": entries}


@router.get(
    "/collections/{collectionId}/items/{featureId}/progress/{seq}/photo",
    operation_id="getReportPhoto",
    name="getReportPhoto",
    summary="The photo of a progress report",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}, "description": "JPEG, at most 1600 px, without EXIF"}},
)
def report_photo(
    layer: LayerDep, featureId: FeatureIdParam, seq: int, store: StoreDep, settings: SettingsDep
) -> Response:
    """Return the photo attached to report ``seq`` of the feature."""
    path = photos.report_photo(store, settings.store.data_dir, layer.id, featureId, seq)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": ONE_DAY})


@router.get(
    "/collections/{collectionId}/items/{featureId}/progress/{seq}/photo/stamped",
    operation_id="getStampedReportPhoto",
    name="getStampedReportPhoto",
    summary="The photo of a progress report, stamped with project, date and position",
    responses={
        200: {"content": {"image/png": {}}, "description": "PNG: the photo with a band of text at the bottom"},
        **AUTH_RESPONSES,
    },
)
def stamped_photo(
    layer: LayerDep,
    featureId: FeatureIdParam,
    seq: int,
    store: StoreDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> Response:
    """Return the photo of report ``seq`` with the project's name, the report date and position (token holders)."""
    if principal is None:  # the stamp shows where the reporter stood, which only token holders see
        raise NotAuthenticated()
    png = stamp.stamped_report_photo(store, settings.store.data_dir, layer, featureId, seq)
    return Response(png, media_type="image/png", headers={"Cache-Control": NO_STORE})
