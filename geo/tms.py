"""Tile matrix sets: WebMercatorQuad, WorldCRS84Quad and a CGCS2000 quad on Tianditu's 'c' grid."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

import morecantile
import pyproj
import shapely
from morecantile import TileMatrixSet
from shapely.geometry.base import BaseGeometry

from geo.errors import TileOutsideBounds, UnknownTileMatrixSet
from geo.types import BBox

CGCS2000_QUAD = "CGCS2000Quad"
TMS_IDS = ("WebMercatorQuad", "WorldCRS84Quad", CGCS2000_QUAD)
"""The tile matrix sets planmap serves, in listing order."""


def cgcs2000_quad(maxzoom: int = 20) -> TileMatrixSet:
    """Return the CGCS2000 (EPSG:4490) quad with Tianditu's 'c' numbering.

    Origin (-180, 90), 256-px tiles, level L covers 360 / 2**L degrees per tile and levels start at 1
    (level 1 = 2 x 1 tiles). ``TileMatrixSet.custom`` numbers its first matrix 0, so the matrices are
    relabelled L = z + 1 to match Tianditu's tile addresses.

    Examples
    --------
    >>> t = cgcs2000_quad().tile(112.9454, 27.8313, 12)
    >>> (t.x, t.y)
    (3333, 707)
    """
    base = TileMatrixSet.custom(
        [-180.0, -90.0, 180.0, 90.0],
        pyproj.CRS.from_epsg(4490),
        matrix_scale=[2, 1],
        minzoom=0,
        maxzoom=maxzoom - 1,
        id=CGCS2000_QUAD,
        title="CGCS2000 geographic quad (Tianditu 'c' grid, levels from 1)",
    )
    data = base.model_dump(exclude_none=True)
    for matrix in data["tileMatrices"]:
        matrix["id"] = str(int(matrix["id"]) + 1)
    return TileMatrixSet.model_validate(data)


@lru_cache(maxsize=1)
def tile_matrix_sets() -> morecantile.TileMatrixSets:
    """Return the served tile matrix sets (a new registry; morecantile's default one is left untouched)."""
    registry = morecantile.tms.register({CGCS2000_QUAD: cgcs2000_quad()})
    return morecantile.TileMatrixSets({i: registry.get(i) for i in TMS_IDS})


def get_tms(tms_id: str) -> TileMatrixSet:
    """Return a served tile matrix set; raise ``UnknownTileMatrixSet`` naming the known ids."""
    if tms_id not in TMS_IDS:
        raise UnknownTileMatrixSet(f"no tile matrix set {tms_id!r}; known are {', '.join(TMS_IDS)}")
    return tile_matrix_sets().get(tms_id)


@dataclass(frozen=True)
class TileGrid:
    """One tile's place: its bounds in the TMS CRS, in CRS84, and how to project lon/lat into it."""

    tms: TileMatrixSet
    tile: morecantile.Tile
    xy_bounds: BBox
    lonlat_bounds: BBox

    @property
    def z(self) -> int:
        """Return the zoom (tile matrix id)."""
        return int(self.tile.z)

    def lonlat_bbox(self, buffer_fraction: float = 0.0) -> BBox:
        """Return the CRS84 bounds grown by ``buffer_fraction`` of the tile size on each side."""
        minx, miny, maxx, maxy = self.lonlat_bounds
        dx, dy = (maxx - minx) * buffer_fraction, (maxy - miny) * buffer_fraction
        return (minx - dx, max(miny - dy, -90.0), maxx + dx, min(maxy + dy, 90.0))

    def to_pixels(self, geoms: np.ndarray, extent: int) -> np.ndarray:
        """Project CRS84 geometries into tile pixel space (0..extent, y down), vectorised."""
        transformer = _from_lonlat(str(self.tms.id))
        minx, miny, maxx, maxy = self.xy_bounds
        sx, sy = extent / (maxx - minx), extent / (maxy - miny)

        def project(coords: np.ndarray) -> np.ndarray:
            x, y = transformer.transform(coords[:, 0], coords[:, 1])
            return np.column_stack(((np.asarray(x) - minx) * sx, (maxy - np.asarray(y)) * sy))

        return np.asarray(shapely.transform(geoms, project))

    def pixel_size_deg(self) -> float:
        """Return the approximate size of one 256-px pixel in degrees of longitude."""
        return (self.lonlat_bounds[2] - self.lonlat_bounds[0]) / 256.0


@lru_cache(maxsize=8)
def _from_lonlat(tms_id: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs("OGC:CRS84", get_tms(tms_id).rasterio_crs.to_wkt(), always_xy=True)


@lru_cache(maxsize=4096)
def tile_grid(tms_id: str, z: int, x: int, y: int) -> TileGrid:
    """Return the grid of tile ``z/x/y`` of a served TMS.

    Raises ``UnknownTileMatrixSet`` for an unknown TMS and ``TileOutsideBounds`` for a zoom outside the
    set's matrices or a column/row outside the matrix.
    """
    tms = get_tms(tms_id)
    if not tms.minzoom <= z <= tms.maxzoom:
        raise TileOutsideBounds(f"zoom {z} outside {tms_id} levels {tms.minzoom}..{tms.maxzoom}")
    matrix = tms.matrix(z)
    if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
        raise TileOutsideBounds(
            f"tile {z}/{x}/{y} outside {tms_id} level {z} ({matrix.matrixWidth} x {matrix.matrixHeight} tiles)"
        )
    tile = morecantile.Tile(x=x, y=y, z=z)
    xy = tms.xy_bounds(tile)
    geo = tms.bounds(tile)
    return TileGrid(tms, tile, (xy.left, xy.bottom, xy.right, xy.top), (geo.left, geo.bottom, geo.right, geo.top))


def tile_polygon(grid: TileGrid) -> BaseGeometry:
    """Return the tile's CRS84 bounds as a polygon."""
    return shapely.box(*grid.lonlat_bounds)


@dataclass(frozen=True)
class TileLimits:
    """The tiles of one tile matrix that cover an area: matrix id and inclusive row/column ranges."""

    matrix: str
    min_row: int
    max_row: int
    min_col: int
    max_col: int


_EDGE = 1e-9
"""Degrees pulled in from the east/south edge so a box ending on a tile border does not reach the next tile."""


@lru_cache(maxsize=1024)
def tile_limits(tms_id: str, bbox: BBox) -> tuple[TileLimits, ...]:
    """Return, for every matrix of a served TMS, the rows and columns of the tiles covering a CRS84 box.

    Cached: capabilities documents ask for the same layer extents again and again.

    Examples
    --------
    >>> limits = tile_limits("WebMercatorQuad", (112.9, 27.8, 113.0, 27.9))
    >>> (limits[0].matrix, limits[0].max_row, limits[12].min_col, limits[12].max_col)
    ('0', 0, 3332, 3333)
    """
    tms = get_tms(tms_id)
    west, south, east, north = bbox
    east, south = max(west, east - _EDGE), min(north, south + _EDGE)
    out = []
    for matrix in tms.tileMatrices:
        z = int(matrix.id)
        top_left, bottom_right = tms.tile(west, north, z, truncate=True), tms.tile(east, south, z, truncate=True)
        rows = sorted(min(max(t.y, 0), matrix.matrixHeight - 1) for t in (top_left, bottom_right))
        cols = sorted(min(max(t.x, 0), matrix.matrixWidth - 1) for t in (top_left, bottom_right))
        out.append(TileLimits(matrix.id, rows[0], rows[1], cols[0], cols[1]))
    return tuple(out)
