"""The raster registry: the closed set of raster layers served, each a file in the data directory.

Only registered rasters are ever opened; a request names a raster id, never a path or URL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import geopandas as gpd

from geo import raster, render
from geo.errors import InvalidGeometry, InvalidParameter
from geo.storage.base import FeatureStore
from geo.textlists import split_list
from geo.tms import TileGrid
from layers.errors import DataNotBuilt, UnknownRaster
from layers.models import Layer
from layers.query import Selection, to_filter


@dataclass(frozen=True)
class RasterSpec:
    """A served raster: id, titles, file (relative to the data dir), unit and default styling."""

    id: str
    title_zh: str
    title_en: str
    filename: str
    unit: str
    colormap: str
    rescale: tuple[float, float]
    description: str
    is_demo: bool = False


RASTERS: tuple[RasterSpec, ...] = (
    RasterSpec(
        id="soil-cadmium",
        title_zh="耕地土壤镉污染风险(演示)",
        title_en="Farmland soil cadmium risk (demo)",
        filename="rasters/soil-cadmium.tif",
        unit="mg/kg",
        colormap="risk",
        rescale=(0.0, 1.2),
        description="Demo surface of soil Cd (mg/kg) over the farmland counties; GB 15618-2018 paddy "
        "screening values are 0.3-0.8 mg/kg by soil pH. Generated, not measured.",
        is_demo=True,
    ),
)
"""Rasters in listing order."""


USER_RASTERS = "raster"
"""The store document kind of rasters registered with ``planmap raster add``."""


def user_raster_spec(
    raster_id: str,
    filename: str,
    title: str,
    unit: str,
    colormap: str,
    rescale: tuple[float, float],
    source: str,
) -> RasterSpec:
    """Return the spec of a user's raster (its file relative to the data directory)."""
    return RasterSpec(
        id=raster_id,
        title_zh=title,
        title_en=title,
        filename=filename,
        unit=unit,
        colormap=colormap,
        rescale=rescale,
        description=f"registered from {source}",
    )


def _from_doc(doc: Mapping[str, Any]) -> RasterSpec:
    fields = {k: doc[k] for k in ("id", "title_zh", "title_en", "filename", "unit", "colormap", "description")}
    return RasterSpec(**fields, rescale=(float(doc["rescale"][0]), float(doc["rescale"][1])))


def list_rasters(store: FeatureStore | None = None) -> list[RasterSpec]:
    """Return the built-in rasters, then those registered in ``store``, by id."""
    user = [_from_doc(r.doc) for r in store.records(USER_RASTERS)] if store is not None else []
    return [*RASTERS, *user]


def raster_spec(raster_id: str, store: FeatureStore | None = None) -> RasterSpec:
    """Return a built-in or (given ``store``) registered raster; raise ``UnknownRaster`` naming the known ids."""
    for spec in RASTERS:
        if spec.id == raster_id:
            return spec
    held = store.record(USER_RASTERS, raster_id) if store is not None else None
    if held is not None:
        return _from_doc(held.doc)
    known = ", ".join(r.id for r in list_rasters(store))
    raise UnknownRaster(f"no raster {raster_id!r}; rasters are {known}")


def raster_path(data_dir: Path, raster_id: str, store: FeatureStore | None = None) -> Path:
    """Return the file of a raster; raise ``DataNotBuilt`` when it has not been built."""
    path = Path(data_dir) / raster_spec(raster_id, store).filename
    if not path.exists():
        raise DataNotBuilt(f"raster {raster_id!r} is not built; run `planmap build-demo` or `planmap raster add`")
    return path


def parse_rescale(text: str | None, default: tuple[float, float]) -> tuple[float, float]:
    """Parse ``"min,max"`` into a value range; raise ``InvalidParameter`` when malformed."""
    if not text:
        return default
    try:
        low, high = (float(v) for v in split_list(text, keep_empty=True))
    except ValueError:
        raise InvalidParameter(f"rescale must be 'min,max' numbers, not {text!r}") from None
    if not low < high:
        raise InvalidParameter(f"rescale minimum must be below maximum, not {text!r}")
    return low, high


def zonal_by_feature(path: Path, frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """Return zonal statistics (count, mean, min, max) of a raster for each feature of a CRS84 frame."""
    stats = raster.zonal_stats(path, list(frame.geometry))
    names = frame["name"] if "name" in frame.columns else [None] * len(frame)
    return [{"id": fid, "name": name, **s} for fid, name, s in zip(frame["id"], names, stats, strict=True)]


def raster_version(spec: RasterSpec, path: Path) -> str:
    """Return the data version of a raster file (its modification time): tiles are cached under it."""
    return f"{spec.id}={os.stat(path).st_mtime_ns}"


@dataclass(frozen=True)
class RasterStyle:
    """How a raster is drawn: a colour ramp and the value range stretched over it."""

    colormap: str
    low: float
    high: float


def raster_style(spec: RasterSpec, colormap: str | None, rescale: str | None) -> RasterStyle:
    """Return the style a request asks for, the raster's own ramp and range filling in what it omits.

    Raises
    ------
    InvalidParameter
        For a malformed ``rescale`` or an unknown colour ramp.
    """
    name = colormap or spec.colormap
    low, high = parse_rescale(rescale, spec.rescale)
    raster.colormap_lut(name)
    return RasterStyle(name, low, high)


def raster_png(path: Path, grid: TileGrid, style: RasterStyle) -> bytes:
    """Return one tile of a raster coloured by ``style`` as PNG; ``b""`` when the tile holds no data."""
    data = raster.read_tile(path, grid)
    return b"" if np.ma.getmaskarray(data).all() else raster.colorized_png(data, style.colormap, style.low, style.high)


def legend_stops(style: RasterStyle, steps: int = 6) -> list[dict[str, Any]]:
    """Return ``steps`` evenly spaced values of the style's range with their colours."""
    return raster.legend(style.colormap, style.low, style.high, steps=steps)


def legend_png(style: RasterStyle) -> bytes:
    """Return the style's colour ramp as a 256 x 24 PNG strip (low values left)."""
    return render.to_png(render.legend_swatches(s["color"] for s in legend_stops(style, steps=64)))


def zonal_by_layer(
    path: Path, store: FeatureStore, layer: Layer, selection: Selection, limit: int
) -> list[dict[str, Any]]:
    """Return zonal statistics of a raster inside each selected feature of a layer (at most ``limit`` features)."""
    frame = store.read(layer.id, to_filter(selection, layer, store), columns=["id", "name"], limit=limit)
    return zonal_by_feature(path, frame)


def geojson_zones(body: Mapping[str, Any]) -> gpd.GeoDataFrame:
    """Return the zones of a GeoJSON Feature, FeatureCollection or geometry (CRS84) as a frame with ids.

    Features without an ``id`` are numbered by position.

    Raises
    ------
    InvalidGeometry
        When the GeoJSON cannot be read.
    """
    features = body.get("features") if body.get("type") == "FeatureCollection" else None
    if features is None:
        features = [body if body.get("type") == "Feature" else {"type": "Feature", "geometry": body, "properties": {}}]
    try:
        frame = gpd.GeoDataFrame.from_features(features, crs="OGC:CRS84")
    except Exception as exc:  # shapely/geopandas raise several types for malformed GeoJSON
        raise InvalidGeometry(f"invalid GeoJSON: {exc}") from exc
    ids = [f.get("id", str(i)) for i, f in enumerate(features)]
    return frame.assign(id=ids)
