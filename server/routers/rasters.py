"""Raster layers from Cloud-Optimized GeoTIFFs: tiles, TileJSON, legend, point values, zonal statistics."""

from __future__ import annotations

import os
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from geo import raster, render
from geo.errors import InvalidGeometry
from geo.textlists import split_list
from geo.tms import get_tms, tile_grid
from layers.query import Selection, to_filter
from layers.rasters import RASTERS, RasterSpec, parse_rescale, raster_path, raster_spec, zonal_by_feature
from server.deps import RegistryDep, SettingsDep, StoreDep
from server.responses import ERROR_RESPONSES
from server.routers.tiles import PNG, TmsId, X, Y, Z
from server.tilecache import TileCache, get_tile_cache, tile_key, tile_response

router = APIRouter(tags=["Rasters"], responses=ERROR_RESPONSES)

RasterId = Annotated[str, Path(description="Raster id, e.g. `soil-cadmium`", examples=["soil-cadmium"])]
Colormap = Annotated[str | None, Query(description=f"Colour ramp: {', '.join(raster.COLORMAPS)}")]
GEOJSON_BODY = "GeoJSON Feature, FeatureCollection or geometry (CRS84)"
Rescale = Annotated[str | None, Query(description="Value range `min,max` stretched over the ramp")]


def _spec(rasterId: RasterId) -> RasterSpec:
    return raster_spec(rasterId)


SpecDep = Annotated[RasterSpec, Depends(_spec)]


def _file(spec: RasterSpec, settings: Any) -> FilePath:
    return raster_path(settings.store.data_dir, spec.id)


def _summary(request: Request, spec: RasterSpec) -> dict[str, Any]:
    base = f"{str(request.base_url).rstrip('/')}/rasters/{spec.id}"
    return {"id": spec.id, "title_zh": spec.title_zh, "title_en": spec.title_en, "unit": spec.unit,
            "description": spec.description, "is_demo": spec.is_demo, "colormap": spec.colormap,
            "rescale": list(spec.rescale),
            "links": [{"rel": "self", "href": base}, {"rel": "legend", "href": f"{base}/legend"},
                      {"rel": "tilejson", "href": f"{base}/tiles/WebMercatorQuad/tilejson.json"}]}  # fmt: skip


@router.get("/rasters", operation_id="rasters", summary="Raster layers")
def rasters(request: Request) -> dict[str, Any]:
    """List the registered raster layers."""
    return {"rasters": [_summary(request, spec) for spec in RASTERS]}


@router.get("/rasters/{rasterId}", operation_id="raster", summary="One raster layer")
def raster_info(request: Request, spec: SpecDep, settings: SettingsDep) -> dict[str, Any]:
    """Return a raster's description, size, CRS, bounds and tags."""
    return {**_summary(request, spec), **raster.describe(_file(spec, settings))}


@router.get("/rasters/{rasterId}/tiles/{tileMatrixSetId}/{z}/{x}/{y}.png", operation_id="rasterTile",
            responses={200: {"content": {PNG: {}}}, 204: {"description": "No data in this tile"}},
            summary="Raster tile as a coloured PNG")  # fmt: skip
def raster_tile(request: Request, spec: SpecDep, settings: SettingsDep,
                cache: Annotated[TileCache, Depends(get_tile_cache)], tileMatrixSetId: TmsId, z: Z, x: X, y: Y,
                colormap: Colormap = None, rescale: Rescale = None) -> Response:  # fmt: skip
    """Return a raster tile coloured by a named ramp (transparent where there is no data)."""
    path = _file(spec, settings)
    grid = tile_grid(tileMatrixSetId, z, x, y)
    name, (low, high) = colormap or spec.colormap, parse_rescale(rescale, spec.rescale)
    raster.colormap_lut(name)
    key = tile_key(request, f"{spec.id}={os.stat(path).st_mtime_ns}", "raster")

    def build() -> bytes:
        data = raster.read_tile(path, grid)
        return b"" if data.mask.all() else render.to_png(raster.colorize(data, name, low, high))

    return tile_response(request, cache, key, PNG, build)


@router.get("/rasters/{rasterId}/tiles/{tileMatrixSetId}/tilejson.json", operation_id="rasterTileJSON",
            summary="TileJSON of a raster")  # fmt: skip
def raster_tilejson(request: Request, spec: SpecDep, settings: SettingsDep, tileMatrixSetId: TmsId) -> dict[str, Any]:
    """Return the TileJSON 3.0 document of a raster's PNG tiles."""
    tms, info = get_tms(tileMatrixSetId), raster.describe(_file(spec, settings))
    query = f"?{request.url.query}" if request.url.query else ""
    url = f"{str(request.base_url).rstrip('/')}/rasters/{spec.id}/tiles/{tileMatrixSetId}/{{z}}/{{x}}/{{y}}.png{query}"
    return {"tilejson": "3.0.0", "name": spec.id, "description": spec.title_en, "tiles": [url], "scheme": "xyz",
            "minzoom": tms.minzoom, "maxzoom": min(tms.maxzoom, 18), "bounds": info["bounds"]}  # fmt: skip


@router.get("/rasters/{rasterId}/legend", operation_id="rasterLegend", summary="Legend as JSON")
def raster_legend(spec: SpecDep, colormap: Colormap = None, rescale: Rescale = None) -> dict[str, Any]:
    """Return the legend: evenly spaced values with their colours, and the unit."""
    low, high = parse_rescale(rescale, spec.rescale)
    return {"id": spec.id, "unit": spec.unit, "colormap": colormap or spec.colormap,
            "stops": raster.legend(colormap or spec.colormap, low, high)}  # fmt: skip


@router.get("/rasters/{rasterId}/legend.png", operation_id="rasterLegendPng", summary="Legend as PNG",
            response_class=Response, responses={200: {"content": {PNG: {}}}})  # fmt: skip
def raster_legend_png(spec: SpecDep, colormap: Colormap = None, rescale: Rescale = None) -> Response:
    """Return the colour ramp as a 256 x 24 PNG strip (low values left)."""
    stops = raster.legend(colormap or spec.colormap, *parse_rescale(rescale, spec.rescale), steps=64)
    return Response(render.to_png(render.legend_swatches(s["color"] for s in stops)), media_type=PNG)


@router.get("/rasters/{rasterId}/point", operation_id="rasterPoint", summary="Value at a point")
def raster_point(spec: SpecDep, settings: SettingsDep,
                 lon: Annotated[float, Query(ge=-180, le=180, description="Longitude (CRS84)")],
                 lat: Annotated[float, Query(ge=-90, le=90, description="Latitude (CRS84)")],
                 ) -> dict[str, Any]:  # fmt: skip
    """Return the raster value at a lon/lat (null outside the raster or at nodata)."""
    value = raster.value_at(_file(spec, settings), lon, lat)
    return {"id": spec.id, "lon": lon, "lat": lat, "value": value, "unit": spec.unit}


@router.get("/rasters/{rasterId}/zonal", operation_id="rasterZonalLayer", summary="Zonal statistics per feature")
def raster_zonal(spec: SpecDep, settings: SettingsDep, store: StoreDep, registry: RegistryDep,
                 collectionId: Annotated[str, Query(description="Layer whose features are the zones")],
                 status: Annotated[str | None, Query(description="Status value(s), comma-separated")] = None,
                 county: Annotated[str | None, Query(description="County adcode(s), comma-separated")] = None,
                 ) -> dict[str, Any]:  # fmt: skip
    """Return count, mean, min and max of the raster inside each feature of a layer."""
    layer = registry.get(collectionId)
    where = to_filter(Selection(status=tuple(split_list(status)), county=tuple(split_list(county))), layer, store)
    frame = store.read(layer.id, where, columns=["id", "name"], limit=settings.api.max_limit)
    return {"id": spec.id, "unit": spec.unit, "collectionId": layer.id,
            "zones": zonal_by_feature(_file(spec, settings), frame)}  # fmt: skip


@router.post("/rasters/{rasterId}/zonal", operation_id="rasterZonalGeoJSON", summary="Zonal statistics of GeoJSON")
def raster_zonal_post(spec: SpecDep, settings: SettingsDep,
                      body: Annotated[dict[str, Any], Body(description=GEOJSON_BODY)],
                      ) -> dict[str, Any]:  # fmt: skip
    """Return count, mean, min and max of the raster inside each posted GeoJSON geometry."""
    frame = _geojson_frame(body)
    return {"id": spec.id, "unit": spec.unit, "zones": zonal_by_feature(_file(spec, settings), frame)}


def _geojson_frame(body: dict[str, Any]) -> Any:
    import geopandas as gpd

    features = body.get("features") if body.get("type") == "FeatureCollection" else None
    if features is None:
        features = [body if body.get("type") == "Feature" else {"type": "Feature", "geometry": body, "properties": {}}]
    try:
        frame = gpd.GeoDataFrame.from_features(features, crs="OGC:CRS84")
    except Exception as exc:  # shapely/geopandas raise several types for malformed GeoJSON
        raise InvalidGeometry(f"invalid GeoJSON: {exc}") from exc
    ids = [f.get("id", str(i)) for i, f in enumerate(features)]
    return frame.assign(id=ids)
