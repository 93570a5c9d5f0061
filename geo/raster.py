"""Reading raster tiles, point values and zonal statistics from (Cloud-Optimized) GeoTIFFs (pure)."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import rasterio
import rasterio.env
import shapely
from rasterio.features import geometry_mask
from rasterio.io import DatasetReader
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds
from shapely.geometry.base import BaseGeometry

from geo import rasterpool, rastertile, render
from geo.errors import InvalidGeometry, InvalidParameter
from geo.tms import TileGrid
from geo.types import BBox

_local = threading.local()

# Named colour ramps as (position 0..1, colour) stops. Written here because matplotlib (which has many
# more) is not a dependency; these four cover risk surfaces, sequential and diverging data.
COLORMAPS: dict[str, tuple[tuple[float, str], ...]] = {
    "risk": ((0.0, "#1a9850"), (0.35, "#a6d96a"), (0.5, "#fee08b"), (0.7, "#fc8d59"), (1.0, "#b2182b")),
    "viridis": ((0.0, "#440154"), (0.25, "#3b528b"), (0.5, "#21918c"), (0.75, "#5ec962"), (1.0, "#fde725")),
    "greys": ((0.0, "#ffffff"), (1.0, "#000000")),
    "rdbu": ((0.0, "#b2182b"), (0.5, "#f7f7f7"), (1.0, "#2166ac")),
}
# ColorBrewer sequential and diverging schemes (Brewer, colorbrewer2.org), under rio-tiler's / matplotlib's names.
_BREWER = {
    "ylorrd": "ffffcc ffeda0 fed976 feb24c fd8d3c fc4e2a e31a1c bd0026 800026",
    "ylgnbu": "ffffd9 edf8b1 c7e9b4 7fcdbb 41b6c4 1d91c0 225ea8 253494 081d58",
    "ylgn": "ffffe5 f7fcb9 d9f0a3 addd8e 78c679 41ab5d 238443 006837 004529",
    "blues": "f7fbff deebf7 c6dbef 9ecae1 6baed6 4292c6 2171b5 08519c 08306b",
    "greens": "f7fcf5 e5f5e0 c7e9c0 a1d99b 74c476 41ab5d 238b45 006d2c 00441b",
    "reds": "fff5f0 fee0d2 fcbba1 fc9272 fb6a4a ef3b2c cb181d a50f15 67000d",
    "spectral": "9e0142 d53e4f f46d43 fdae61 fee08b ffffbf e6f598 abdda4 66c2a5 3288bd 5e4fa2",
    "rdylgn": "a50026 d73027 f46d43 fdae61 fee08b ffffbf d9ef8b a6d96a 66bd63 1a9850 006837",
}
for _name, _colors in _BREWER.items():
    _hexes = _colors.split()
    COLORMAPS[_name] = tuple((i / (len(_hexes) - 1), f"#{c}") for i, c in enumerate(_hexes))


def configure_gdal(cache_mb: int) -> None:
    """Bound GDAL's block cache to ``cache_mb`` MiB for this process (GDAL's default is 5 % of the machine's RAM).

    rasterio hands ``GDAL_CACHEMAX`` to ``GDALSetCacheMax64``, which takes bytes, so the size is given in bytes.
    """
    rasterio.env.set_gdal_config("GDAL_CACHEMAX", int(cache_mb) * 1024 * 1024)


def gdal_cache_mb() -> int:
    """Return the size of GDAL's block cache in MiB."""
    return int(rasterio.env.get_gdal_config("GDAL_CACHEMAX")) // (1024 * 1024)


def dataset(path: Path) -> DatasetReader:
    """Return this thread's open dataset for ``path`` (reopened when the file changes).

    GDAL dataset handles must not be shared across threads (doing so crashed the process), so each thread
    keeps its own.
    """
    cache: dict[str, tuple[float, DatasetReader]] = getattr(_local, "datasets", None) or {}
    _local.datasets = cache
    mtime = os.stat(path).st_mtime
    held = cache.get(str(path))
    if held is not None and held[0] == mtime:
        return held[1]
    if held is not None:
        held[1].close()
    src = rasterio.open(path)
    cache[str(path)] = (mtime, src)
    return src


def read_tile(path: Path, grid: TileGrid, size: int = 256) -> np.ma.MaskedArray:
    """Return band 1 resampled (bilinear) onto the tile's pixel grid, masked where there is no data.

    Read from the overview that serves the tile's resolution (see :mod:`geo.rastertile`), through a
    dataset lent by :mod:`geo.rasterpool`.
    """
    with rasterpool.lend(path, rastertile.overview_factor(dataset(path), grid, size)) as src:
        if rastertile.lonlat_to_mercator(src, grid):
            return rastertile.read_separable(src, grid, size)
        return rastertile.read_warped(src, grid, size)


def colormap_lut(name: str) -> np.ndarray:
    """Return a (256, 4) uint8 lookup table for a named colour ramp; raise ``InvalidParameter`` if unknown.

    Names are case-insensitive; ``_r`` reverses a ramp (``ylorrd_r``), as in matplotlib and rio-tiler.
    """
    name = name.lower()
    if name.endswith("_r") and name[:-2] in COLORMAPS:
        return colormap_lut(name[:-2])[::-1].copy()
    if name not in COLORMAPS:
        raise InvalidParameter(f"unknown colormap {name!r}; known are {', '.join(COLORMAPS)}")
    stops = COLORMAPS[name]
    pos = np.array([s[0] for s in stops])
    rgb = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for _, c in stops], dtype=float)
    x = np.linspace(0, 1, 256)
    lut = np.column_stack([np.interp(x, pos, rgb[:, k]) for k in range(3)] + [np.full(256, 255.0)])
    return lut.round().astype(np.uint8)


def color_index(data: np.ma.MaskedArray, vmin: float, vmax: float) -> np.ndarray:
    """Return the ramp index (0..255, uint8) of each value stretched over ``vmin..vmax`` (nodata gets 0)."""
    scaled = np.clip((np.ma.filled(data.astype(float), vmin) - vmin) / max(vmax - vmin, 1e-12), 0, 1)
    return (scaled * 255).round().astype(np.uint8)


def colorize(data: np.ma.MaskedArray, name: str, vmin: float, vmax: float) -> np.ndarray:
    """Map values to RGBA (4, H, W) through a named ramp stretched over ``vmin..vmax``; nodata is transparent."""
    rgba = colormap_lut(name)[color_index(data, vmin, vmax)]
    rgba[np.ma.getmaskarray(data), 3] = 0
    return np.moveaxis(rgba, -1, 0)


def colorized_png(data: np.ma.MaskedArray, name: str, vmin: float, vmax: float) -> bytes:
    """Return :func:`colorize`'s RGBA as PNG bytes, paletted when it can be (the same pixels, ~10x faster).

    The ramp index is the palette index; nodata takes an index this tile does not use, made transparent
    and given the colour :func:`colorize` leaves under its zero alpha. Only a tile with nodata that uses
    all 256 ramp colours is written as RGBA.
    """
    index = color_index(data, vmin, vmax)
    lut = colormap_lut(name)
    mask = np.ma.getmaskarray(data)
    if not mask.any():
        return render.indexed_png(index, lut)
    unused = np.flatnonzero(np.bincount(index[~mask], minlength=256) == 0)
    if unused.size == 0:
        return render.to_png(colorize(data, name, vmin, vmax))
    hole = int(unused[0])
    palette = lut.copy()
    palette[hole] = lut[0]
    palette[hole, 3] = 0
    return render.indexed_png(np.where(mask, np.uint8(hole), index), palette)


def legend(name: str, vmin: float, vmax: float, steps: int = 6) -> list[dict[str, Any]]:
    """Return ``steps`` evenly spaced values with their ``#rrggbb`` colours."""
    lut = colormap_lut(name)
    values = np.linspace(vmin, vmax, steps)
    idx = np.linspace(0, 255, steps).round().astype(int)
    colors = ["#{:02x}{:02x}{:02x}".format(*lut[i, :3]) for i in idx]
    return [{"value": round(float(v), 6), "color": c} for v, c in zip(values, colors, strict=True)]


def value_at(path: Path, lon: float, lat: float) -> float | None:
    """Return band 1 at a CRS84 point (the raster must be in a lon/lat CRS), or None outside or at nodata."""
    src = dataset(path)
    row, col = src.index(lon, lat)
    if not (0 <= row < src.height and 0 <= col < src.width):
        return None
    value = src.read(1, window=Window(col, row, 1, 1), masked=True)[0, 0]
    return None if np.ma.is_masked(value) else float(value)


def zonal_stats(path: Path, geoms: Sequence[BaseGeometry]) -> list[dict[str, float | int | None]]:
    """Return count, mean, min and max of band 1 inside each CRS84 geometry (pixels whose centre is inside)."""
    src = dataset(path)
    with warnings.catch_warnings():  # rasterio's window helpers trip affine's `*` deprecation
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return [_zone(src, geom) for geom in geoms]


def _zone(src: DatasetReader, geom: BaseGeometry | None) -> dict[str, float | int | None]:
    if geom is None or shapely.is_empty(geom):
        return {"count": 0, "mean": None, "min": None, "max": None}
    if not np.isfinite(geom.bounds).all():
        raise InvalidGeometry("zone coordinates must be finite numbers")
    window = from_bounds(*geom.bounds, transform=src.transform).round_offsets().round_lengths()
    window = window.intersection(Window(0, 0, src.width, src.height)) if _overlaps(window, src) else None
    if window is None or window.width <= 0 or window.height <= 0:
        return {"count": 0, "mean": None, "min": None, "max": None}
    return _window_stats(src, geom, window)


def _overlaps(window: Window, src: DatasetReader) -> bool:
    # A point or line has a zero-size window: no pixel centre lies inside it, and rasterio cannot intersect it.
    return bool(
        window.width > 0
        and window.height > 0
        and window.col_off < src.width
        and window.row_off < src.height
        and window.col_off + window.width > 0
        and window.row_off + window.height > 0
    )


def _window_stats(src: DatasetReader, geom: BaseGeometry, window: Window) -> dict[str, float | int | None]:
    data = src.read(1, window=window, masked=True)
    outside = geometry_mask([geom], out_shape=data.shape, transform=src.window_transform(window))
    values = np.ma.masked_array(data, mask=np.ma.getmaskarray(data) | outside).compressed()
    if values.size == 0:
        return {"count": 0, "mean": None, "min": None, "max": None}
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def lonlat_bounds(path: Path) -> BBox:
    """Return a raster's bounds in CRS84 (lon/lat), densified so a projected raster's edges are covered."""
    src = dataset(path)
    west, south, east, north = transform_bounds(src.crs, "OGC:CRS84", *src.bounds, densify_pts=21)
    return (west, south, east, north)


def describe(path: Path) -> dict[str, Any]:
    """Return a raster's size, CRS, CRS84 bounds, data type, nodata, overviews and tags."""
    src = dataset(path)
    return {
        "width": src.width,
        "height": src.height,
        "crs": src.crs.to_string() if src.crs else None,
        "bounds": list(src.bounds),
        "dtype": src.dtypes[0],
        "nodata": src.nodata,
        "overviews": src.overviews(1),
        "tags": src.tags(),
    }
