"""WMTS 1.0.0, RESTful binding: the capabilities and PNG tiles of every plan layer and built raster.

Errors on these routes answer an OWS ``ExceptionReport`` (XML, what GDAL, QGIS and ArcGIS read) with
the status of the one error table in ``server/errors.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from geo.errors import GeoError
from layers.errors import LayerError
from layers.wmts import check_style, draw_tile, tiled_layer, tiled_layers
from server.caching import NOT_MODIFIED, conditional, make_etag
from server.deps import RegistryDep, SettingsDep, StoreDep
from server.deps_tiles import TileContextDep
from server.errors import status_for
from server.responses import MediaType
from server.tilecache import tile_key, tile_response
from server.wmts import PREFIX, TILE_PATH, WMTS_TMS, Service, capabilities, exception_code, exception_report, wmts_grid

XML = MediaType.xml.value
PNG = MediaType.png.value


def _report(status: int, code: str, text: str, locator: str | None) -> Response:
    return Response(exception_report(code, text, locator), status_code=status, media_type=XML)


def _invalid(exc: RequestValidationError) -> Response:
    first = exc.errors()[0] if exc.errors() else {}
    locator = str(first.get("loc", ("", "request"))[-1])
    return _report(400, "InvalidParameterValue", f"{locator}: {first.get('msg', 'invalid')}", locator)


class OwsRoute(APIRoute):
    """A route answering request and domain errors with an OWS exception report instead of JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler: validation errors are 400 ``InvalidParameterValue``, bad requests by the table."""
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _invalid(exc)
            except (GeoError, LayerError) as exc:
                if status_for(exc) not in (400, 404):
                    raise  # not a bad request (a store down, a 401): the JSON handlers add their headers
                code, locator = exception_code(exc)
                return _report(status_for(exc), code, str(exc), locator)

        return route


router = APIRouter(tags=["WMTS"], route_class=OwsRoute)

_XML_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_MODIFIED,
    200: {"content": {XML: {}}, "description": "WMTS 1.0.0 capabilities (RESTful binding)"},
    503: {"description": "Data store unavailable"},
}
_TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_MODIFIED,
    200: {"content": {PNG: {}}, "description": "The tile as an RGBA PNG (transparent where empty)"},
    400: {"content": {XML: {}}, "description": "Malformed row or column (OWS exception report)"},
    404: {"content": {XML: {}}, "description": "Unknown layer, style or matrix set, or tile out of range"},
    503: {"description": "Data store unavailable"},
}


@dataclass(frozen=True)
class WmtsTileParams:
    """A RESTful WMTS tile address from the path."""

    layer: Annotated[str, Path(description="Layer identifier (a plan layer or raster id)", examples=["farmland"])]
    style: Annotated[str, Path(description="Style identifier: `default`", examples=["default"])]
    TileMatrixSet: Annotated[str, Path(description=f"One of {', '.join(WMTS_TMS)}", examples=["WebMercatorQuad"])]
    TileMatrix: Annotated[str, Path(description="Tile matrix identifier (zoom level)", examples=["12"])]
    TileRow: Annotated[int, Path(description="Tile row, from the top", examples=[1718])]
    TileCol: Annotated[int, Path(description="Tile column, from the left", examples=[3333])]


@router.get(
    f"{PREFIX}/WMTSCapabilities.xml",
    operation_id="wmtsCapabilities",
    summary="WMTS 1.0.0 capabilities",
    response_class=Response,
    responses=_XML_RESPONSES,
)
def wmts_capabilities(request: Request, store: StoreDep, registry: RegistryDep, settings: SettingsDep) -> Response:
    """Return the WMTS capabilities: every layer's PNG tiles in WebMercatorQuad and CGCS2000Quad."""
    layers = tiled_layers(store, registry, settings.store.data_dir)
    version = "|".join(t.version(store) for t in layers)
    base = str(request.base_url).rstrip("/")
    service = Service(
        title=f"湘潭市2025年重点项目空间进度 · {settings.api.title}",
        abstract="规划图层与栅格的地图瓦片 · Map tiles of the plan layers and rasters (WMTS 1.0.0, RESTful)",
        capabilities_url=f"{base}{PREFIX}/WMTSCapabilities.xml",
        tiles_url=f"{base}{PREFIX}/",
    )

    def build() -> Response:
        return Response(capabilities(service, layers, base), media_type=XML)

    return conditional(request, make_etag(version, request, "xml"), build)


@router.get(
    f"{PREFIX}{TILE_PATH}",
    operation_id="wmtsTile",
    summary="WMTS tile (RESTful GetTile)",
    response_class=Response,
    responses=_TILE_RESPONSES,
)
def wmts_tile(tile: Annotated[WmtsTileParams, Depends()], ctx: TileContextDep, registry: RegistryDep) -> Response:
    """Return one tile of a layer drawn as PNG."""
    tiled = tiled_layer(tile.layer, ctx.store, registry, ctx.settings.store.data_dir)
    check_style(tile.style)
    grid = wmts_grid(tile.TileMatrixSet, tile.TileMatrix, tile.TileRow, tile.TileCol)
    key = tile_key(ctx.request, tiled.version(ctx.store), "wmts")
    return tile_response(ctx.request, ctx.cache, key, PNG, lambda: draw_tile(ctx.store, tiled, grid, ctx.spec()))
