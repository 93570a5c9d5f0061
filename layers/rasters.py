"""The raster registry: the closed set of raster layers served, each a file in the data directory.

Only registered rasters are ever opened; a request names a raster id, never a path or URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd

from geo.errors import InvalidParameter
from geo.raster import zonal_stats
from geo.textlists import split_list
from layers.errors import DataNotBuilt, UnknownRaster


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


def raster_spec(raster_id: str) -> RasterSpec:
    """Return the registered raster; raise ``UnknownRaster`` naming the known ids."""
    for spec in RASTERS:
        if spec.id == raster_id:
            return spec
    raise UnknownRaster(f"no raster {raster_id!r}; rasters are {', '.join(r.id for r in RASTERS)}")


def raster_path(data_dir: Path, raster_id: str) -> Path:
    """Return the file of a registered raster; raise ``DataNotBuilt`` when it has not been built."""
    path = Path(data_dir) / raster_spec(raster_id).filename
    if not path.exists():
        raise DataNotBuilt(f"raster {raster_id!r} is not built; run `planmap build-demo`")
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
    stats = zonal_stats(path, list(frame.geometry))
    names = frame["name"] if "name" in frame.columns else [None] * len(frame)
    return [{"id": fid, "name": name, **s} for fid, name, s in zip(frame["id"], names, stats, strict=True)]
