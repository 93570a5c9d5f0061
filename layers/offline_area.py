"""What a phone downloads to work offline in one county (or a chosen box): projects, pages and basemap tiles.

The tile list covers the whole area at low zooms and only the surroundings of the projects at high zooms
(a county at z15 is ~1,600 tiles; the fields a team visits are a few hundred), so the size shown before
the download stays honest and small. Tile bytes are estimated from a sample rendered now.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import morecantile

from geo.storage.base import FeatureStore, Filter
from geo.types import BBox
from layers.basemap import BOUNDARY_LAYER
from layers.errors import InvalidQueryParameter, UnknownCounty
from layers.models import Layer

MAX_TILES = 20_000
"""Most tiles one download may hold (about 40 MB of basemap); a larger area must be chosen smaller."""
TileIndex = tuple[int, int, int]
_WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


@dataclass(frozen=True)
class AreaSpec:
    """Which area to take offline: a county adcode or a lon/lat box, the zoom range and the margin."""

    county: str | None = None
    bbox: BBox | None = None
    min_zoom: int = 8
    max_zoom: int = 15
    full_zoom: int = 12
    buffer_m: float = 500.0


@dataclass(frozen=True)
class OfflineArea:
    """The projects (by layer) and the tiles of an area, with the area's name and extent."""

    spec: AreaSpec
    name: str | None
    bbox: BBox
    projects: dict[str, gpd.GeoDataFrame]
    tiles: list[TileIndex]

    @property
    def project_count(self) -> int:
        """Return how many projects the area holds, all layers together."""
        return sum(len(frame) for frame in self.projects.values())

    def tiles_by_zoom(self) -> dict[int, int]:
        """Return the number of tiles at each zoom level."""
        counts: dict[int, int] = {}
        for z, _, _ in self.tiles:
            counts[z] = counts.get(z, 0) + 1
        return counts


def _county_extent(store: FeatureStore, county: str) -> tuple[str | None, BBox]:
    frame = store.read(BOUNDARY_LAYER, Filter(equals={"id": county}))
    if frame.empty:
        raise UnknownCounty(f"no county with adcode {county!r}")
    name = frame["name"].iloc[0] if "name" in frame.columns else None
    minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
    return (None if name is None else str(name)), (minx, miny, maxx, maxy)


def _check_spec(spec: AreaSpec) -> None:
    if (spec.county is None) == (spec.bbox is None):
        raise InvalidQueryParameter("choose the area with either county or bbox, not both or neither")
    if not 0 <= spec.min_zoom <= spec.full_zoom <= spec.max_zoom <= 18:
        raise InvalidQueryParameter("zoom levels must satisfy 0 <= min_zoom <= full_zoom <= max_zoom <= 18")
    if not 0 <= spec.buffer_m <= 10_000:
        raise InvalidQueryParameter("buffer_m must be between 0 and 10000 metres")


def _grow(bounds: BBox, metres: float) -> BBox:
    """Return ``bounds`` grown by ``metres`` on each side (spherical approximation, fine for tile cover)."""
    minx, miny, maxx, maxy = bounds
    dlat = metres / 111_320
    dlon = dlat / max(0.2, math.cos(math.radians((miny + maxy) / 2)))
    return (minx - dlon, miny - dlat, maxx + dlon, maxy + dlat)


def _cover(bounds: BBox, zoom: int) -> set[TileIndex]:
    minx, miny, maxx, maxy = bounds
    return {(t.z, t.x, t.y) for t in _WEB_MERCATOR.tiles(minx, miny, maxx, maxy, [zoom])}


def tiles_around(extent: BBox, project_bounds: Sequence[BBox], spec: AreaSpec) -> list[TileIndex]:
    """Return the tiles of ``extent`` from ``min_zoom`` to ``full_zoom``, then the projects' up to ``max_zoom``.

    Examples
    --------
    >>> spec = AreaSpec(county="430382", min_zoom=10, max_zoom=13, full_zoom=10, buffer_m=0)
    >>> tiles = tiles_around((112.4, 27.8, 112.6, 28.0), [(112.51, 27.91, 112.51, 27.91)], spec)
    >>> sorted({z for z, _, _ in tiles}), [t for t in tiles if t[0] == 13]
    ([10, 11, 12, 13], [(13, 6656, 3434)])
    """
    tiles: set[TileIndex] = set()
    for zoom in range(spec.min_zoom, spec.full_zoom + 1):
        tiles |= _cover(extent, zoom)
    for bounds in project_bounds:
        grown = _grow(bounds, spec.buffer_m)
        for zoom in range(spec.full_zoom + 1, spec.max_zoom + 1):
            tiles |= _cover(grown, zoom)
    return sorted(tiles)


def offline_area(store: FeatureStore, layers: Sequence[Layer], spec: AreaSpec) -> OfflineArea:
    """Return the projects of ``layers`` in the area and the basemap tiles a phone needs to work there.

    Raises
    ------
    InvalidQueryParameter
        When the area is given twice or not at all, the zooms are out of order, or it needs over ``MAX_TILES``.
    UnknownCounty
        When the county adcode is not one of the city's divisions.
    """
    _check_spec(spec)
    if spec.county is not None:
        name, extent = _county_extent(store, spec.county)
        where = Filter(equals={"county": spec.county})
    else:
        name, extent = None, spec.bbox or (0.0, 0.0, 0.0, 0.0)
        where = Filter(bbox=extent)
    projects = {}
    for layer in layers:
        frame = store.read(layer.id, where)
        if not frame.empty:
            projects[layer.id] = frame
    bounds = [tuple(float(v) for v in geom.bounds) for f in projects.values() for geom in f.geometry if geom]
    tiles = tiles_around(extent, bounds, spec)  # type: ignore[arg-type]
    if len(tiles) > MAX_TILES:
        raise InvalidQueryParameter(
            f"the area needs {len(tiles)} tiles (at most {MAX_TILES}): choose a smaller area or a lower max_zoom"
        )
    return OfflineArea(spec, name, extent, projects, tiles)


def estimate_tile_bytes(tiles: Sequence[TileIndex], render: Callable[[TileIndex], bytes], samples: int = 8) -> int:
    """Return the estimated bytes of ``tiles``: the mean size of up to ``samples`` of them, spread evenly, times count.

    Examples
    --------
    >>> estimate_tile_bytes([(0, 0, 0), (1, 0, 0), (1, 1, 0)], lambda t: b"x" * (100 * (t[0] + 1)))
    500
    """
    if not tiles:
        return 0
    step = max(1, len(tiles) // samples)
    sizes = [len(render(tile)) for tile in tiles[::step][:samples]]
    return round(sum(sizes) / len(sizes) * len(tiles))
