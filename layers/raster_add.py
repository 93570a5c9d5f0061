"""Registering a user's raster as data: checked, made a Cloud-Optimized GeoTIFF, kept under the data directory.

The file is converted with rio-cogeo (internal tiling, deflate, overviews) unless it already is a valid COG,
and copied to ``rasters/user/<id>.tif`` in the data directory; its metadata (titles, unit, colour ramp,
value range, source file name) is a ``raster`` document in the store. A raster without a CRS is refused:
planmap would have to guess where it lies.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

import rasterio
from rasterio.errors import RasterioIOError

from geo import raster
from geo.storage.base import FeatureStore
from layers.errors import InvalidRaster
from layers.rasters import RASTERS, USER_RASTERS, RasterSpec, parse_rescale, user_raster_spec

USER_DIR = "rasters/user"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _check_id(raster_id: str) -> None:
    if not _ID.match(raster_id):
        raise InvalidRaster(f"raster name {raster_id!r} must be lower-case ASCII letters, digits and '-' (<= 63)")
    if any(spec.id == raster_id for spec in RASTERS):
        raise InvalidRaster(f"{raster_id!r} is a built-in raster; choose another name")


def _inspect(path: Path) -> tuple[float, float]:
    """Check the file is a georeferenced raster; return band 1's value range (for the default rescale)."""
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise InvalidRaster(f"{path.name} has no CRS; assign one (e.g. gdal_edit.py -a_srs EPSG:4490) first")
            if src.count < 1:
                raise InvalidRaster(f"{path.name} has no band")
            stats = src.stats(indexes=[1], approx=True)[0]
    except RasterioIOError as exc:
        raise InvalidRaster(f"cannot read {path.name} as a raster: {exc}") from exc
    return float(stats.min), float(stats.max)


def _to_cog(source: Path, target: Path) -> None:
    """Write ``source`` as a COG at ``target`` (copied as is when it already is one)."""
    valid, _, _ = cog_validate(str(source), quiet=True)
    if valid:
        shutil.copyfile(source, target)
        return
    cog_translate(str(source), str(target), cog_profiles.get("deflate"), overview_level=None, quiet=True)


def add_raster(
    store: FeatureStore,
    data_dir: Path,
    raster_id: str,
    source: Path,
    *,
    title: str | None = None,
    unit: str = "",
    colormap: str = "viridis",
    rescale: str | None = None,
    author: str = "cli",
) -> RasterSpec:
    """Register (or replace) the raster ``raster_id`` from the file ``source``; return its spec.

    Parameters
    ----------
    store : FeatureStore
        Where the raster's document goes.
    data_dir : pathlib.Path
        The data directory; the COG is written under ``rasters/user/``.
    raster_id : str
        The name in URLs (``/rasters/<id>``).
    source : pathlib.Path
        A GeoTIFF (COG or not) or any raster GDAL reads, with a CRS.
    title, unit, colormap, rescale : optional
        Display title (default the id), value unit, colour ramp name and ``"min,max"`` (default: the data range).

    Raises
    ------
    InvalidRaster
        For a bad name, an unreadable file or one without a CRS.
    InvalidParameter
        For an unknown colour ramp or a malformed rescale.
    """
    _check_id(raster_id)
    name = colormap.lower()
    raster.colormap_lut(name)
    low, high = _inspect(Path(source))
    value_range = parse_rescale(rescale, (low, high if high > low else low + 1))
    target = Path(data_dir) / USER_DIR / f"{raster_id}.tif"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staged = Path(tmp) / "cog.tif"
        _to_cog(Path(source), staged)
        spec = user_raster_spec(
            raster_id, f"{USER_DIR}/{raster_id}.tif", title or raster_id, unit, name, value_range, Path(source).name
        )
        held = store.record(USER_RASTERS, raster_id)
        doc = {**asdict(spec), "rescale": list(spec.rescale)}
        os.replace(staged, target)
    store.put_record(USER_RASTERS, raster_id, doc, expected_version=held.version if held else None, author=author)
    return spec
