"""Interactive map pages (plan map, progress, field, per-layer), their GeoJSON data and local static assets."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from geo.textlists import split_list
from layers.editing import editable
from layers.tokens import require_role
from server.auth import PrincipalDep, SessionDep
from server.caching import representation_etags
from server.deps import LayerDep, PlanDep, PlanRegistryDep, PlanYearDep, RegistryDep, SettingsDep, StoreDep
from server.maps.assets import STATIC_DIR, STATIC_PREFIX, XSTATIC_DIRS
from server.maps.data import MapQuery, layer_frame, to_geojson
from server.maps.edit import edit_page
from server.maps.i18n import parse_lang
from server.maps.nearby import NearbyQuery, nearby_page
from server.maps.pages import layer_page, plan_page
from server.maps.progress import progress_page
from server.maps.qgis import QGS_PATH, qgis_document
from server.maps.report import report_page
from server.responses import ERROR_RESPONSES, GeoJSONResponse
from server.routers.features import FeatureIdParam

router = APIRouter(tags=["Maps"], responses=ERROR_RESPONSES)
for _name, _directory in XSTATIC_DIRS.items():
    router.mount(f"{STATIC_PREFIX}/xstatic/{_name}", StaticFiles(directory=_directory), name=f"xstatic-{_name}")
router.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")


def map_query(
    plan: PlanDep,
    county: Annotated[str | None, Query(description="County adcode(s), comma-separated, e.g. `430321`")] = None,
    status: Annotated[
        str | None, Query(description="Status(es) to draw, comma-separated: planned, in_progress, completed, overdue…")
    ] = None,
    layers: Annotated[str | None, Query(description="Layer ids to draw, comma-separated (default: all)")] = None,
    as_of: Annotated[date | None, Query(description="Show statuses as they were on this day (YYYY-MM-DD)")] = None,
    coordsys: Annotated[
        Literal["wgs84", "gcj02"], Query(description="Datum of the output: gcj02 to overlay AMap base maps")
    ] = "wgs84",
    lang: Annotated[str | None, Query(description="UI language: zh (default) or en")] = None,
) -> MapQuery:
    """Collect the map filters from the query string; the projects shown are the plan's (`plan=`, else current)."""
    return MapQuery(
        plan_year=plan.plan.year if plan else None,
        county=tuple(split_list(county)),
        status=tuple(split_list(status)),
        layers=tuple(split_list(layers)),
        as_of=as_of,
        coordsys=coordsys,
        lang=parse_lang(lang),
    )


MapQueryDep = Annotated[MapQuery, Depends(map_query)]


def _here(request: Request) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return str(request.url.path) + ("?" + "&".join(f"{k}={v}" for k, v in params) if params else "")


@router.get("/map", response_class=HTMLResponse, operation_id="getPlanMap")
def plan_map(
    request: Request, store: StoreDep, registry: RegistryDep, settings: SettingsDep, query: MapQueryDep
) -> str:
    """Show every plan layer on one interactive map."""
    return plan_page(store, registry, query, here=_here(request), tianditu_key=settings.maps.tianditu_key)


@router.get(
    QGS_PATH,
    operation_id="getQgisProject",
    response_class=Response,
    responses={200: {"content": {"application/x-qgis-project": {}}, "description": "QGIS 3 project (.qgs)"}},
)
def qgis_project_file(request: Request, store: StoreDep, registry: RegistryDep, query: MapQueryDep) -> Response:
    """Return the map view as a QGIS project whose layers read this server's OGC API Features live."""
    data = qgis_document(store, registry, query, str(request.base_url))
    headers = {"Content-Disposition": 'attachment; filename="planmap.qgs"', "Cache-Control": "no-cache"}
    return Response(data, media_type="application/x-qgis-project", headers=headers)


@router.get("/map/data/{collectionId}", operation_id="getMapData", response_class=GeoJSONResponse)
def map_data(store: StoreDep, layer: LayerDep, query: MapQueryDep) -> GeoJSONResponse:
    """Return a layer's features as drawn on the maps (display status, filters, WGS84 or GCJ-02)."""
    return GeoJSONResponse(to_geojson(layer_frame(store, layer, query)))


@router.get("/map/layers/{collectionId}", response_class=HTMLResponse, operation_id="getLayerMap")
def layer_map(request: Request, store: StoreDep, registry: RegistryDep, layer: LayerDep, query: MapQueryDep) -> str:
    """Show one layer's map and the list of its records."""
    return layer_page(store, registry, layer.id, query, here=_here(request))


@router.get("/map/progress", response_class=HTMLResponse, operation_id="getProgressMap")
def progress_map(
    request: Request,
    store: StoreDep,
    registry: PlanRegistryDep,
    plan: PlanDep,
    lights: PlanYearDep,
    query: MapQueryDep,
    layer: Annotated[str, Query(description="Layer whose progress is shown, e.g. `farmland`")] = "farmland",
) -> str:
    """Show a layer's progress: county choropleth, city total against target, burn-up, lights and overdue list."""
    query = replace(query, layers=(registry.get(layer).id,))
    year = plan.plan.year if plan else None
    return progress_page(store, registry, query, here=_here(request), plan_year=year, rules=lights.rules)


def nearby_query(
    lon: Annotated[float | None, Query(description="Longitude of the phone (omit to ask the browser)")] = None,
    lat: Annotated[float | None, Query(description="Latitude of the phone (omit to ask the browser)")] = None,
    coordsys: Annotated[
        Literal["wgs84", "gcj02", "cgcs2000", "bd09"], Query(description="Datum of lon/lat: wgs84 (GPS) or gcj02")
    ] = "wgs84",
    radius_m: Annotated[float, Query(description="Search radius in metres (1..50000)")] = 2000.0,
    layers: Annotated[str | None, Query(description="Project layer ids, comma-separated (default: all)")] = None,
    lang: Annotated[str | None, Query(description="UI language: zh (default) or en")] = None,
) -> NearbyQuery:
    """Collect the field page's parameters."""
    return NearbyQuery(lon, lat, coordsys, radius_m, tuple(split_list(layers)), parse_lang(lang))


@router.get("/map/nearby", response_class=HTMLResponse, operation_id="getNearbyMap")
def nearby_map(
    request: Request, store: StoreDep, registry: RegistryDep, nearby: Annotated[NearbyQuery, Depends(nearby_query)]
) -> str:
    """Show the projects near a phone's position, by distance and direction (phone-friendly)."""
    return nearby_page(store, registry, nearby, here=_here(request))


@router.get("/map/report/{collectionId}/{featureId}", response_class=HTMLResponse, operation_id="getReportPage")
def report_form(
    request: Request,
    store: StoreDep,
    layer: LayerDep,
    featureId: FeatureIdParam,
    session: SessionDep,
    lang: Annotated[str | None, Query(description="UI language: zh (default) or en")] = None,
) -> Response:
    """Show a phone-friendly form to report a project's progress (or a water section's reading)."""
    item = f"/collections/{quote(layer.id, safe='')}/items/{quote(featureId, safe='')}"
    etag = representation_etags(store.feature_version(layer.id, featureId), request, item, ("geojson",))[0]
    page = report_page(store, layer, featureId, parse_lang(lang), _here(request), session, etag)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})  # it holds the session's CSRF token


@router.get(
    "/map/edit/{collectionId}",
    response_class=HTMLResponse,
    operation_id="getEditorPage",
    responses={303: {"description": "Not signed in: go to /login first"}},
)
def editor(
    request: Request,
    layer: LayerDep,
    principal: PrincipalDep,
    session: SessionDep,
    lang: Annotated[str | None, Query(description="UI language: zh (default) or en")] = None,
) -> Response:
    """Show the planners' editor of a project layer: draw outlines, edit attributes, save (sign-in needed)."""
    if principal is None:
        return RedirectResponse(f"/login?next={quote(_here(request), safe='')}", status_code=303)
    require_role(principal, "planner")
    csrf = session.csrf_token if session else None
    page = edit_page(editable(layer), parse_lang(lang), principal.user, here=_here(request), csrf=csrf)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
