"""One raster tile read fast: the overview that serves the tile, and lon/lat -> Web Mercator without a warper (pure).

A tile is read from the coarsest overview that is still at least as fine as the tile's pixels (as GDAL and
rio-tiler choose), never from the full-resolution image at a low zoom. A raster in WGS84 or CGCS2000
lon/lat served in WebMercatorQuad is resampled here: that reprojection is separable (a tile column is one
longitude, a tile row one latitude), so bilinear sampling is two 256-long coordinate vectors and four
gathers, about 1 ms, where GDAL's warper spends several. It follows GDAL's bilinear kernel: an output
pixel whose centre maps outside the image or into a nodata pixel is empty, and nodata neighbours drop
out of the weights. (GDAL also widens the kernel when it shrinks an image; this does not, so a tile
read from an overview up to 2x finer than it differs from GDAL's by a ramp step in some pixels.) Any
other pair of CRSs goes through GDAL's warper (:class:`rasterio.vrt.WarpedVRT`) on the chosen overview.
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine

from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from geo.tms import TileGrid

EARTH_RADIUS = 6378137.0
"""The sphere of EPSG:3857."""

# Lon/lat CRSs on the WGS84 or CGCS2000 ellipsoid with no datum shift to EPSG:3857 in PROJ (CGCS2000 and
# WGS84 agree to centimetres); any other geographic CRS (e.g. Beijing 1954) needs a datum shift: GDAL warps it.
_LONLAT_EPSG = {4326, 4490}
_WEB_MERCATOR_EPSG = 3857
MAX_WINDOW_PIXELS = 4096 * 4096
"""The largest source window read whole for one tile (a raster without overviews at a low zoom is warped)."""


def overview_factor(src: DatasetReader, grid: TileGrid, size: int) -> int | None:
    """Return the decimation of the overview that serves the tile (None: the full-resolution image).

    The coarsest overview whose pixels are no larger than the tile's pixels (in the raster's own units).
    """
    factors = src.overviews(1)
    if not factors:
        return None
    west, south, east, north = _bounds_in_source(src, grid)
    tile_res = min((east - west) / size, (north - south) / size)
    native = min(abs(src.transform.a), abs(src.transform.e))
    fitting = [f for f in factors if native * f <= tile_res * (1 + 1e-9)]
    return max(fitting) if fitting else None


def _bounds_in_source(src: DatasetReader, grid: TileGrid) -> tuple[float, float, float, float]:
    if lonlat_to_mercator(src, grid):
        west, south, east, north = grid.lonlat_bounds
        return west, south, east, north
    west, south, east, north = transform_bounds(grid.tms.rasterio_crs, src.crs, *grid.xy_bounds, densify_pts=5)
    return west, south, east, north


def lonlat_to_mercator(src: DatasetReader, grid: TileGrid) -> bool:
    """Return whether the tile can be resampled here: a north-up lon/lat raster into Web Mercator."""
    t = src.transform
    return bool(
        src.crs is not None
        and src.crs.to_epsg() in _LONLAT_EPSG
        and grid.tms.rasterio_crs.to_epsg() == _WEB_MERCATOR_EPSG
        and t.b == 0
        and t.d == 0
        and t.a > 0
        and t.e < 0
    )


def read_separable(src: DatasetReader, grid: TileGrid, size: int) -> np.ma.MaskedArray:
    """Return band 1 bilinearly resampled from a lon/lat raster onto a Web Mercator tile (masked where empty)."""
    minx, miny, maxx, maxy = grid.xy_bounds
    centres = (np.arange(size) + 0.5) / size
    lon = np.degrees((minx + centres * (maxx - minx)) / EARTH_RADIUS)
    y = maxy - centres * (maxy - miny)
    lat = np.degrees(2.0 * np.arctan(np.exp(y / EARTH_RADIUS)) - math.pi / 2)
    t = src.transform
    col, row = (lon - t.c) / t.a, (lat - t.f) / t.e
    inside = ((row >= 0) & (row < src.height))[:, None] & ((col >= 0) & (col < src.width))[None, :]
    if not inside.any():
        return np.ma.masked_all((size, size), dtype=src.dtypes[0])
    cols, fx = _neighbours(col, src.width)
    rows, fy = _neighbours(row, src.height)
    (c0, c1), (r0, r1) = _span(cols), _span(rows)
    if (c1 - c0) * (r1 - r0) > MAX_WINDOW_PIXELS:  # no overview near the tile's scale: GDAL's warper reads in chunks
        return read_warped(src, grid, size)
    block = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
    values = np.ma.getdata(block).astype(np.float64)
    valid = ~np.ma.getmaskarray(block)
    total = np.zeros((size, size))
    weight = np.zeros((size, size))
    for i, wy in ((0, 1 - fy), (1, fy)):
        for j, wx in ((0, 1 - fx), (1, fx)):
            ri, cj = np.clip(rows[:, i] - r0, 0, r1 - r0 - 1), np.clip(cols[:, j] - c0, 0, c1 - c0 - 1)
            w = np.outer(wy * (rows[:, i] >= 0), wx * (cols[:, j] >= 0)) * valid[np.ix_(ri, cj)]
            total += w * values[np.ix_(ri, cj)]
            weight += w
    under = valid[
        np.ix_(
            np.clip(np.floor(row).astype(np.int64) - r0, 0, r1 - r0 - 1),
            np.clip(np.floor(col).astype(np.int64) - c0, 0, c1 - c0 - 1),
        )
    ]
    empty = ~inside | ~under | (weight < 1e-5)
    out = total / np.where(empty, 1.0, weight)
    if np.issubdtype(np.dtype(src.dtypes[0]), np.integer):
        info = np.iinfo(src.dtypes[0])
        out = np.clip(np.rint(out), info.min, info.max)
    return np.ma.masked_array(out.astype(src.dtypes[0]), mask=empty)


def _neighbours(coord: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the pixel indices either side of each coordinate (-1 when off the image) and the second one's weight."""
    shifted = coord - 0.5
    first = np.floor(shifted)
    frac = shifted - first
    pair = np.stack([first, first + 1], axis=1).astype(np.int64)
    off = (pair < 0) | (pair >= limit)
    return np.where(off, -1, pair), frac


def _span(indices: np.ndarray) -> tuple[int, int]:
    """Return the first and one-past-last pixel index used (off-image ones, -1, left out)."""
    used = indices[indices >= 0]
    return int(used.min()), int(used.max()) + 1


def read_warped(src: DatasetReader, grid: TileGrid, size: int) -> np.ma.MaskedArray:
    """Return band 1 warped by GDAL (bilinear) onto the tile's pixel grid (masked where there is no data)."""
    minx, miny, maxx, maxy = grid.xy_bounds
    transform = Affine((maxx - minx) / size, 0, minx, 0, -(maxy - miny) / size, maxy)
    with WarpedVRT(
        src,
        crs=grid.tms.rasterio_crs,
        transform=transform,
        width=size,
        height=size,
        resampling=Resampling.bilinear,
        nodata=src.nodata,
    ) as vrt:
        return vrt.read(1, masked=True)
