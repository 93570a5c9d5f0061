"""OGC API Features items: pages of a plan layer's features and single features, as GeoJSON or HTML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

import pyproj

from geo import geojson
from geo.crs import CRS84, crs_uri, parse_crs
from geo.navigation import NavigationLinks, destination, navigation_links
from geo.storage.base import FeatureStore
from layers.items import ItemsRequest, read_feature, read_items
from layers.lights import LightsAt
from layers.models import Layer
from server.caching import NOT_MODIFIED, conditional, make_etag
from server.deps import FeaturePlanYearDep, FeatureQuery, FeatureQueryDep, LayerDep, PlanYear, SettingsDep, StoreDep
from server.ogc import bilingual_title, field_labels, link, page_links, url
from server.responses import (
    ERROR_RESPONSES,
    GeoJSONResponse,
    MediaType,
    OutputFormat,
    choose_format,
    clamp_limit,
    html_response,
)

router = APIRouter(tags=["OGC API - Features"], responses={**ERROR_RESPONSES, **NOT_MODIFIED})

_CRS_DOC = (
    "Output CRS (OGC URI or `EPSG:nnnn`): CRS84 (default), EPSG:4490, EPSG:4546, EPSG:4547 or EPSG:3857. "
    "Coordinates follow the CRS's axis order (EPSG:4490 lat/lon; EPSG:4546/4547 northing/easting)."
)
_HEADERS = {
    "Content-Crs": {"description": "The CRS of the coordinates, `<uri>`", "schema": {"type": "string"}},
    "ETag": {"description": "Strong validator of the data version and query", "schema": {"type": "string"}},
}
MAX_OFFSET = 2**31 - 1
"""Largest ``offset`` accepted (far beyond any layer's size; keeps the value a 64-bit SQL integer)."""
_GEOJSON_OR_HTML: dict[str, Any] = {"content": {"application/geo+json": {}, "text/html": {}}, "headers": _HEADERS}


@dataclass(frozen=True)
class ItemsParams:
    """Paging, output and property-selection parameters of the items endpoint."""

    f: OutputFormat | None
    limit: int | None
    offset: int
    properties: str | None
    sortby: str | None
    crs: str
    datetime: str | None
    filter_crs: str | None

    def to_request(self, query: FeatureQuery, limit: int, lights: LightsAt | None = None) -> ItemsRequest:
        """Return the layers-side request: the query's selection, the (clamped) ``limit`` and the other values."""
        return ItemsRequest(
            query.selection, limit, self.offset, self.properties, self.sortby, self.datetime, self.filter_crs, lights
        )


def items_params(
    f: Annotated[OutputFormat | None, Query(description="`geojson`/`json` or `html`; overrides Accept")] = None,
    limit: Annotated[
        int | None,
        Query(ge=1, description="Features per page (default and maximum from the server settings; larger is clamped)"),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Features to skip before the page starts")] = 0,
    properties: Annotated[
        str | None, Query(description="Properties to return, comma-separated, e.g. `name,status`", examples=["name"])
    ] = None,
    sortby: Annotated[
        str | None, Query(description="Sort keys, comma-separated; `-` for descending, e.g. `-area_mu,name`")
    ] = None,
    crs: Annotated[str, Query(description=_CRS_DOC, examples=["EPSG:4547"])] = CRS84,
    datetime: Annotated[
        str | None,
        Query(
            description="Date or interval (`2025-03-01/2025-03-31`, `..` for open ends): features with a progress "
            "report dated within it",
            examples=["2025-03-01/.."],
        ),
    ] = None,
    filter_crs: Annotated[
        str | None, Query(alias="filter-crs", description="CRS of geometries in `filter`; only CRS84")
    ] = None,
) -> ItemsParams:
    """Collect the items parameters."""
    return ItemsParams(f, limit, offset, properties, sortby, crs, datetime, filter_crs)


ItemsParamsDep = Annotated[ItemsParams, Depends(items_params)]


def _items_response(
    request: Request,
    query: FeatureQuery,
    params: ItemsParams,
    store: FeatureStore,
    limits: tuple[int, int],
    plan: PlanYear,
) -> Response:
    layer, out_crs = query.layer, parse_crs(params.crs)
    limit, clamped = clamp_limit(params.limit, *limits)
    lights = LightsAt(plan.year, plan.rules, query.selection.as_of)
    page = read_items(store, layer, params.to_request(query, limit, lights))
    fmt = choose_format(request, params.f, OutputFormat.geojson)
    media = MediaType.html if fmt == OutputFormat.html else MediaType.geojson
    features = geojson.features(page.frame, out_crs, properties=page.properties)
    doc = {
        "type": "FeatureCollection",
        "numberMatched": page.matched,
        "numberReturned": len(page.frame),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "features": features,
        "links": [
            *page_links(request, media, params.offset, limit, len(page.frame), page.matched),
            link(url(request, f"/collections/{layer.id}"), "collection", MediaType.json, bilingual_title(layer)),
        ],
    }
    response = _render(request, fmt, doc, layer, page.frame, "items.html")
    return _crs_headers(response, out_crs, limit if clamped else None)


def _navigation(layer: Layer, frame: Any) -> NavigationLinks | None:
    """Return the map-app links of a project feature (``frame`` in CRS84); None for context layers."""
    if layer.kind != "project" or frame.empty or frame.geometry.iloc[0] is None:
        return None
    name = frame[layer.label_field].iloc[0] if layer.label_field in frame.columns else None
    return navigation_links(*destination(frame.geometry.iloc[0]), str(name or frame["id"].iloc[0]))


def _render(request: Request, fmt: OutputFormat, doc: dict[str, Any], layer: Layer, frame: Any, page: str) -> Response:
    if fmt != OutputFormat.html:
        return GeoJSONResponse(doc)
    context = {
        "doc": doc,
        "layer": layer,
        "labels": field_labels(layer),
        "figure": geojson.svg_figure(list(frame.geometry)),
        "status_labels": {s.value: s.label_zh for s in layer.statuses},
        "nav": _navigation(layer, frame) if page == "item.html" else None,
    }
    return html_response(request, page, context)


def _crs_headers(response: Response, out_crs: pyproj.CRS, clamped_to: int | None) -> Response:
    response.headers["Content-Crs"] = f"<{crs_uri(out_crs)}>"
    if clamped_to is not None:
        response.headers["Limit-Clamped"] = str(clamped_to)
    return response


@router.get(
    "/collections/{collectionId}/items",
    operation_id="getFeatures",
    name="getFeatures",
    summary="Features of a plan layer",
    response_class=GeoJSONResponse,
    responses={200: {**_GEOJSON_OR_HTML, "description": "A page of features (FeatureCollection)"}},
)
def items(
    request: Request,
    query: FeatureQueryDep,
    params: ItemsParamsDep,
    store: StoreDep,
    settings: SettingsDep,
    plan: FeaturePlanYearDep,
) -> Response:
    """Return a page of a plan layer's features, filtered, sorted and in the requested CRS (projects with lights)."""
    fmt = choose_format(request, params.f, OutputFormat.geojson)
    # the lights move with the calendar: today's date is part of the representation
    etag = make_etag(f"{store.version(query.layer.id)}@{date.today()}", request, fmt)
    limits = (settings.api.default_limit, settings.api.max_limit)
    return conditional(request, etag, lambda: _items_response(request, query, params, store, limits, plan))


@dataclass(frozen=True)
class ItemParams:
    """Output parameters of the single-feature endpoint."""

    f: OutputFormat | None
    properties: str | None
    crs: str


def item_params(
    f: Annotated[OutputFormat | None, Query(description="`geojson`/`json` or `html`; overrides Accept")] = None,
    properties: Annotated[
        str | None, Query(description="Properties to return, comma-separated, e.g. `name,status`", examples=["name"])
    ] = None,
    crs: Annotated[str, Query(description=_CRS_DOC, examples=["EPSG:4547"])] = CRS84,
) -> ItemParams:
    """Collect the single-feature parameters."""
    return ItemParams(f, properties, crs)


FeatureIdParam = Annotated[str, Path(description="Feature id, e.g. `farmland-0001`", examples=["farmland-0001"])]


def _item_response(
    request: Request, layer: Layer, feature_id: str, params: ItemParams, store: FeatureStore
) -> Response:
    out_crs = parse_crs(params.crs)
    frame, props = read_feature(store, layer, feature_id, params.properties)
    feature = geojson.features(frame, out_crs, properties=props)[0]
    base = f"/collections/{layer.id}"
    feature["links"] = [
        link(url(request, f"{base}/items/{feature_id}"), "self", MediaType.geojson, "本要素 · This feature"),
        link(url(request, f"{base}/items/{feature_id}", f="html"), "alternate", MediaType.html, "HTML"),
        link(url(request, base), "collection", MediaType.json, bilingual_title(layer)),
    ]
    fmt = choose_format(request, params.f, OutputFormat.geojson)
    return _crs_headers(_render(request, fmt, feature, layer, frame, "item.html"), out_crs, None)


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    operation_id="getFeature",
    name="getFeature",
    summary="One feature",
    response_class=GeoJSONResponse,
    responses={200: {**_GEOJSON_OR_HTML, "description": "One feature with links to its collection"}},
)
def item(
    request: Request,
    layer: LayerDep,
    featureId: FeatureIdParam,
    params: Annotated[ItemParams, Depends(item_params)],
    store: StoreDep,
) -> Response:
    """Return one feature of a plan layer (the page maps link to, as HTML)."""
    fmt = choose_format(request, params.f, OutputFormat.geojson)
    etag = make_etag(store.feature_version(layer.id, featureId), request, fmt)
    return conditional(request, etag, lambda: _item_response(request, layer, featureId, params, store))
