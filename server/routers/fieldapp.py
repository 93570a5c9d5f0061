"""The field app: manifest, service worker, the offline fallback page and the offline download's plan."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from geo.bbox import parse_bbox
from layers.offline_area import AreaSpec
from server.deps import PlanDep, RegistryDep, StoreDep
from server.maps.fieldapp import manifest, service_worker
from server.maps.offline import offline_plan
from server.responses import ERROR_RESPONSES, html_response

router = APIRouter(tags=["Field app"], responses=ERROR_RESPONSES)

_REVALIDATE = {"Cache-Control": "no-cache"}


@router.get(
    "/manifest.webmanifest",
    operation_id="getWebManifest",
    summary="Web app manifest of the field app",
    responses={200: {"content": {"application/manifest+json": {}}}},
)
def web_manifest() -> Response:
    """Return the web app manifest that makes the field pages installable (湘潭项目进度)."""
    return JSONResponse(manifest(), media_type="application/manifest+json", headers=_REVALIDATE)


@router.get(
    "/sw.js",
    operation_id="getServiceWorker",
    summary="The field app's service worker (root scope)",
    responses={200: {"content": {"text/javascript": {}}}},
)
def service_worker_script() -> Response:
    """Return the service worker that caches the app shell and serves it with no network."""
    headers = {**_REVALIDATE, "Service-Worker-Allowed": "/"}
    return Response(service_worker(), media_type="text/javascript", headers=headers)


@router.get("/offline", response_class=HTMLResponse, operation_id="getOfflinePage", include_in_schema=False)
def offline_page(request: Request) -> Response:
    """Return the page the service worker shows for a page that is not cached while offline."""
    return html_response(request, "offline.html", {})


@router.get("/offline/area", operation_id="getOfflineArea", summary="What to download to work offline in an area")
def offline_area_plan(
    store: StoreDep,
    registry: RegistryDep,
    plan: PlanDep,
    county: Annotated[str | None, Query(description="County adcode, e.g. `430381` (湘乡市)", max_length=12)] = None,
    bbox: Annotated[str | None, Query(description="Or a lon/lat box `minx,miny,maxx,maxy` (WGS84)")] = None,
    max_zoom: Annotated[int, Query(ge=0, le=18, description="Deepest basemap zoom, around the projects")] = 15,
    full_zoom: Annotated[int, Query(ge=0, le=18, description="Deepest zoom covering the whole area")] = 12,
    buffer_m: Annotated[float, Query(ge=0, le=10000, description="Margin around each project, metres")] = 500,
) -> JSONResponse:
    """Return the project data, report pages and basemap tiles to download, with their sizes, before downloading."""
    box = parse_bbox(bbox) if bbox else None
    spec = AreaSpec(county, box, max_zoom=max_zoom, full_zoom=min(full_zoom, max_zoom), buffer_m=buffer_m)
    body = offline_plan(store, registry.projects(), spec, plan.plan.year if plan else None)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
