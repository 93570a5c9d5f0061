"""OGC API Features Part 4 on project layers: planners create, replace, update and delete features."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from geo import geojson
from geo.crs import CRS84, crs_uri, parse_crs
from geo.errors import InvalidCRS
from geo.storage.base import FeatureStore
from layers import editing
from layers.errors import InvalidFeatureEdit
from layers.items import public_fields
from layers.models import Layer
from layers.plans import current_plan
from layers.tokens import Principal
from server.auth import PlannerDep
from server.caching import NO_STORE, check_if_match, representation_etags
from server.deps import LayerDep, StoreDep
from server.responses import AUTH_RESPONSES, ERROR_RESPONSES, GeoJSONResponse, OutputFormat
from server.routers.features import FeatureIdParam

router = APIRouter(tags=["OGC API - Features - Part 4 (editing)"], responses=ERROR_RESPONSES)

_ETAG_FORMATS = (OutputFormat.geojson, OutputFormat.json, OutputFormat.html)
_ERR = ERROR_RESPONSES[400]
_EXAMPLE = {
    "type": "Feature",
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[112.78, 27.72], [112.79, 27.72], [112.79, 27.73], [112.78, 27.73], [112.78, 27.72]]],
    },
    "properties": {"name": "射埠镇高标准农田项目区", "status": "planned", "owner": "湘潭县农业农村局"},
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/geo+json": {"schema": {"type": "object"}, "example": _EXAMPLE},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}
_PATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/merge-patch+json": {"schema": {"type": "object"}},
            "application/geo+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    405: {**_ERR, "description": "The collection is reference data and cannot be edited"},
    422: {**_ERR, "description": "The geometry lies outside its county (the message names it and how far)"},
}
_VERSIONED: dict[int | str, dict[str, Any]] = {
    **_WRITE_ERRORS,
    412: {**_ERR, "description": "`If-Match` is not the feature's current ETag"},
    428: {**_ERR, "description": "`If-Match` is missing (or `*`)"},
}
IfMatch = Annotated[str | None, Header(description="The feature's ETag from `GET .../items/{featureId}`")]
ContentCrs = Annotated[str | None, Header(description="CRS of the body's coordinates; only CRS84 `<uri>` is accepted")]


async def _feature_body(request: Request, content_crs: str | None) -> Any:
    """Return the parsed JSON body, refusing other CRSs than CRS84 and other media types than JSON."""
    if content_crs is not None and parse_crs(content_crs.strip().strip("<>")) != parse_crs(CRS84):
        raise InvalidCRS(f"Content-Crs {content_crs!r} is not supported: send CRS84 lon/lat (<{crs_uri(CRS84)}>)")
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", "application/geo+json", "application/merge-patch+json"):
        raise InvalidFeatureEdit("send the feature as application/geo+json (a GeoJSON Feature)")
    try:
        return await request.json()
    except (ValueError, RecursionError):
        raise InvalidFeatureEdit("the body is not valid JSON") from None


def _context(principal: Principal, store: FeatureStore) -> editing.EditContext:
    """New projects belong to the current plan's year by default (this year's when no plan is active)."""
    today = date.today()
    plan = current_plan(store)
    return editing.EditContext(principal, today, plan.plan.year if plan else today.year)


def _item_path(layer: Layer, feature_id: str) -> str:
    return f"/collections/{layer.id}/items/{feature_id}"


def _etags(request: Request, layer: Layer, feature_id: str, version: str) -> list[str]:
    return representation_etags(version, request, _item_path(layer, feature_id), _ETAG_FORMATS)


def _check_precondition(request: Request, store: FeatureStore, layer: Layer, fid: str, if_match: str | None) -> str:
    """Return the feature's version after checking ``If-Match`` names it (read before the state it guards)."""
    store.get(editing.editable(layer).id, fid)  # 404 for an unknown feature before 428/412
    version = store.feature_version(layer.id, fid)
    check_if_match(if_match, _etags(request, layer, fid, version))
    return version


def _written(request: Request, store: FeatureStore, layer: Layer, fid: str, status: int) -> Response:
    """Answer with the feature as stored now and its ETag (the one a GET would give)."""
    version = store.feature_version(layer.id, fid)
    frame = store.get(layer.id, fid)
    feature = geojson.features(frame, parse_crs(CRS84), properties=public_fields(layer))[0]
    headers = {"ETag": _etags(request, layer, fid, version)[0], "Cache-Control": NO_STORE}
    headers["Content-Crs"] = f"<{crs_uri(CRS84)}>"
    if status == 201:
        headers["Location"] = str(request.url_for("getFeature", collectionId=layer.id, featureId=fid))
    return GeoJSONResponse(feature, status_code=status, headers=headers)


@router.post(
    "/collections/{collectionId}/items",
    operation_id="createFeature",
    name="createFeature",
    summary="Add a project (planners)",
    status_code=201,
    response_class=GeoJSONResponse,
    openapi_extra=_BODY,
    responses={201: {"description": "Created; `Location` is the new feature, `ETag` its version"}, **_WRITE_ERRORS}
    | {409: {**_ERR, "description": "The id is in use or was used by a deleted project"}},
)
async def create_feature(
    request: Request, layer: LayerDep, principal: PlannerDep, store: StoreDep, content_crs: ContentCrs = None
) -> Response:
    """Create a project from a GeoJSON Feature (id given or the layer's next), checked against its county."""
    body = await _feature_body(request, content_crs)
    fid = editing.create(store, layer, body, _context(principal, store))
    return _written(request, store, layer, fid, 201)


@router.put(
    "/collections/{collectionId}/items/{featureId}",
    operation_id="replaceFeature",
    name="replaceFeature",
    summary="Replace a project (planners)",
    response_class=GeoJSONResponse,
    openapi_extra=_BODY,
    responses={200: {"description": "The replaced feature; `ETag` is its new version"}, **_VERSIONED},
)
async def replace_feature(
    request: Request,
    layer: LayerDep,
    featureId: FeatureIdParam,
    principal: PlannerDep,
    store: StoreDep,
    if_match: IfMatch = None,
    content_crs: ContentCrs = None,
) -> Response:
    """Replace a project's geometry and attributes (progress and provenance stay unless given)."""
    body = await _feature_body(request, content_crs)
    version = _check_precondition(request, store, layer, featureId, if_match)
    ctx = _context(principal, store)
    editing.change(store, layer, featureId, body, ctx, expected_version=version, patch=False)
    return _written(request, store, layer, featureId, 200)


@router.patch(
    "/collections/{collectionId}/items/{featureId}",
    operation_id="updateFeature",
    name="updateFeature",
    summary="Update a project's attributes or outline (planners)",
    response_class=GeoJSONResponse,
    openapi_extra=_PATCH_BODY,
    responses={200: {"description": "The updated feature; `ETag` is its new version"}, **_VERSIONED},
)
async def update_feature(
    request: Request,
    layer: LayerDep,
    featureId: FeatureIdParam,
    principal: PlannerDep,
    store: StoreDep,
    if_match: IfMatch = None,
    content_crs: ContentCrs = None,
) -> Response:
    """Merge-patch a project: given properties change (null clears), absent ones stay, a geometry replaces."""
    body = await _feature_body(request, content_crs)
    version = _check_precondition(request, store, layer, featureId, if_match)
    ctx = _context(principal, store)
    editing.change(store, layer, featureId, body, ctx, expected_version=version, patch=True)
    return _written(request, store, layer, featureId, 200)


@router.delete(
    "/collections/{collectionId}/items/{featureId}",
    operation_id="deleteFeature",
    name="deleteFeature",
    summary="Delete a project (planners; archived, its history kept)",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Deleted: gone from the layer, archived with its history"}, **_VERSIONED},
)
def delete_feature(
    request: Request,
    layer: LayerDep,
    featureId: FeatureIdParam,
    principal: PlannerDep,
    store: StoreDep,
    if_match: IfMatch = None,
) -> Response:
    """Soft-delete a project: it leaves the layer; its history and an archived copy stay."""
    version = _check_precondition(request, store, layer, featureId, if_match)
    editing.delete(store, layer, featureId, _context(principal, store), expected_version=version)
    return Response(status_code=204, headers={"Cache-Control": NO_STORE})
