"""Progress reports from the field: post a report (optionally with a photo), read a feature's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import UploadFile

from geo import geojson
from geo.crs import CRS84, parse_crs
from geo.storage.base import FeatureStore
from layers import photos
from layers.audit import feature_history, history_records
from layers.errors import InvalidProgressUpdate, PhotoTooLarge
from layers.items import public_fields
from layers.models import Layer
from layers.review import PendingReport, Review, review_required, submit_for_review
from layers.tokens import Principal, require_county
from layers.updates import RecordedReport, parse_report, record_report
from server import uploads
from server.alerting import after_write
from server.auth import PrincipalDep, ReporterDep
from server.caching import NO_STORE, ONE_DAY, check_if_match, representation_etags
from server.deps import LayerDep, SettingsDep, StoreDep
from server.forms import read_form
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
    """The submitted report's fields and the photo bytes, if any."""

    fields: dict[str, Any]
    photo: bytes | None


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
        return ReportInput(body, None)
    if kind not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise InvalidProgressUpdate("send the report as application/json or multipart/form-data")
    with uploads.workspace(settings.store.uploads, "report") as spool_dir:
        async with read_form(request, spool_dir) as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            upload = form.get("photo")
            photo = await _read_photo(upload, settings.api.max_photo_bytes) if isinstance(upload, UploadFile) else None
    return ReportInput(fields, photo)


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
    try:
        if review_required(store, sub.layer.id):
            pending = PendingReport(sub.layer, sub.feature_id, parsed, version, extra)
            clock = request.app.state.clock
            return submit_for_review(store, pending, author=sub.principal.user, today=date.today(), clock=clock)
        recorded = record_report(
            store,
            sub.layer,
            sub.feature_id,
            parsed,
            author=sub.principal.user,
            expected_version=version,
            today=date.today(),
            extra=extra,
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
        412: {**ERROR_RESPONSES[400], "description": "`If-Match` is not the feature's current ETag"},
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
) -> Response:
    """Append a progress report to the history and move the feature's current state, in one transaction."""
    sub = Submission(layer, featureId, report, principal, if_match)
    recorded = submit(request, store, sub, settings.store.data_dir, settings.api.photo_max_px)
    if isinstance(recorded, Review):
        body = {"review": recorded.as_json(), "message": "待审核: the report counts once a planner approves it"}
        return JSONResponse(body, status_code=202, headers={"Cache-Control": NO_STORE})
    after_write(request, layer.id, featureId)
    return _feature_response(request, store, layer, featureId, recorded.seq)


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
