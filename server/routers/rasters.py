"""Raster layers from Cloud-Optimized GeoTIFFs: tiles, TileJSON, legend, point values, zonal statistics."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from geo import raster
from geo.tms import get_tms
from layers.rasters import (
    RasterSpec,
    geojson_zones,
    legend_png,
    legend_stops,
    list_rasters,
    raster_path,
    raster_png,
    raster_spec,
    raster_style,
    raster_version,
    zonal_by_feature,
    zonal_by_layer,
)
from layers.tilejson import raster_tilejson as tilejson_doc
from server.deps import RegistryDep, SettingsDep, StoreDep
from server.deps_tiles import RasterStyleDep, StatusCountyDep, TileContextDep, TileDep, TmsId
from server.responses import ERROR_RESPONSES, MediaType
from server.settings import Settings
from server.tilecache import tile_key, tile_response

router = APIRouter(tags=["Rasters"], responses=ERROR_RESPONSES)

PNG = MediaType.png.value
RasterId = Annotated[str, Path(description="Raster id, e.g. `soil-cadmium`", examples=["soil-cadmium"])]
GEOJSON_BODY = "GeoJSON Feature, FeatureCollection or geometry (CRS84)"


def _spec(rasterId: RasterId, store: StoreDep) -> RasterSpec:
    return raster_spec(rasterId, store)


SpecDep = Annotated[RasterSpec, Depends(_spec)]


def _file(spec: RasterSpec, settings: Settings) -> FilePath:
    path = FilePath(settings.store.data_dir) / spec.filename
    return path if path.exists() else raster_path(settings.store.data_dir, spec.id)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _summary(request: Request, spec: RasterSpec) -> dict[str, Any]:
    base = f"{_base(request)}/rasters/{spec.id}"
    links = [
        {"rel": "self", "href": base},
        {"rel": "legend", "href": f"{base}/legend"},
        {"rel": "tilejson", "href": f"{base}/tiles/WebMercatorQuad/tilejson.json"},
    ]
    fields = ("id", "title_zh", "title_en", "unit", "description", "is_demo", "colormap")
    return {**{name: getattr(spec, name) for name in fields}, "rescale": list(spec.rescale), "links": links}


@router.get("/rasters", operation_id="rasters", summary="Raster layers")
def rasters(request: Request, store: StoreDep) -> dict[str, Any]:
    """List the registered raster layers."""
    return {"rasters": [_summary(request, spec) for spec in list_rasters(store)]}


@router.get("/rasters/{rasterId}", operation_id="raster", summary="One raster layer")
def raster_info(request: Request, spec: SpecDep, settings: SettingsDep) -> dict[str, Any]:
    """Return a raster's description, size, CRS, bounds and tags."""
    return {**_summary(request, spec), **raster.describe(_file(spec, settings))}


@router.get(
    "/rasters/{rasterId}/tiles/{tileMatrixSetId}/{z}/{x}/{y}.png",
    operation_id="rasterTile",
    responses={200: {"content": {PNG: {}}}, 204: {"description": "No data in this tile"}},
    summary="Raster tile as a coloured PNG",
)
def raster_tile(tile: TileDep, spec: SpecDep, params: RasterStyleDep, ctx: TileContextDep) -> Response:
    """Return a raster tile coloured by a named ramp (transparent where there is no data)."""
    path = _file(spec, ctx.settings)
    grid = tile.grid()
    style = raster_style(spec, params.colormap, params.rescale)
    key = tile_key(ctx.request, raster_version(spec, path), "raster")
    return tile_response(ctx.request, ctx.cache, key, PNG, lambda: raster_png(path, grid, style))


@router.get(
    "/rasters/{rasterId}/tiles/{tileMatrixSetId}/tilejson.json",
    operation_id="rasterTileJSON",
    summary="TileJSON of a raster",
)
def raster_tilejson(request: Request, spec: SpecDep, settings: SettingsDep, tileMatrixSetId: TmsId) -> dict[str, Any]:
    """Return the TileJSON 3.0 document of a raster's PNG tiles."""
    tms, info = get_tms(tileMatrixSetId), raster.describe(_file(spec, settings))
    query = f"?{request.url.query}" if request.url.query else ""
    url = f"{_base(request)}/rasters/{spec.id}/tiles/{tileMatrixSetId}/{{z}}/{{x}}/{{y}}.png{query}"
    return tilejson_doc(spec, url, tms, info["bounds"])


@router.get("/rasters/{rasterId}/legend", operation_id="rasterLegend", summary="Legend as JSON")
def raster_legend(spec: SpecDep, params: RasterStyleDep) -> dict[str, Any]:
    """Return the legend: evenly spaced values with their colours, and the unit."""
    style = raster_style(spec, params.colormap, params.rescale)
    return {"id": spec.id, "unit": spec.unit, "colormap": style.colormap, "stops": legend_stops(style)}


@router.get(
    "/rasters/{rasterId}/legend.png",
    operation_id="rasterLegendPng",
    summary="Legend as PNG",
    response_class=Response,
    responses={200: {"content": {PNG: {}}}},
)
def raster_legend_png(spec: SpecDep, params: RasterStyleDep) -> Response:
    """Return the colour ramp as a 256 x 24 PNG strip (low values left)."""
    return Response(legend_png(raster_style(spec, params.colormap, params.rescale)), media_type=PNG)


@router.get("/rasters/{rasterId}/point", operation_id="rasterPoint", summary="Value at a point")
def raster_point(
    spec: SpecDep,
    settings: SettingsDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude (CRS84)")],
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude (CRS84)")],
) -> dict[str, Any]:
    """Return the raster value at a lon/lat (null outside the raster or at nodata)."""
    value = raster.value_at(_file(spec, settings), lon, lat)
    return {"id": spec.id, "lon": lon, "lat": lat, "value": value, "unit": spec.unit}


@router.get("/rasters/{rasterId}/zonal", operation_id="rasterZonalLayer", summary="Zonal statistics per feature")
def raster_zonal(
    spec: SpecDep,
    settings: SettingsDep,
    store: StoreDep,
    registry: RegistryDep,
    collectionId: Annotated[str, Query(description="Layer whose features are the zones")],
    filters: StatusCountyDep,
) -> dict[str, Any]:
    """Return count, mean, min and max of the raster inside each feature of a layer."""
    layer = registry.get(collectionId)
    zones = zonal_by_layer(_file(spec, settings), store, layer, filters.selection(), settings.api.max_limit)
    return {"id": spec.id, "unit": spec.unit, "collectionId": layer.id, "zones": zones}


@router.post("/rasters/{rasterId}/zonal", operation_id="rasterZonalGeoJSON", summary="Zonal statistics of GeoJSON")
def raster_zonal_post(
    spec: SpecDep, settings: SettingsDep, body: Annotated[dict[str, Any], Body(description=GEOJSON_BODY)]
) -> dict[str, Any]:
    """Return count, mean, min and max of the raster inside each posted GeoJSON geometry."""
    frame = geojson_zones(body)
    return {"id": spec.id, "unit": spec.unit, "zones": zonal_by_feature(_file(spec, settings), frame)}
