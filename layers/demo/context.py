"""What every demo-layer builder shares: boundaries in metres, per-layer random streams, township lookup."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

import geopandas as gpd
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geo.crs import WGS84, gk_zone_for_bounds, transform_geometry, transform_xy
from layers.boundaries import COUNTIES, load_boundaries
from layers.demo.places import STREETS, TOWNSHIPS, URBAN_AREAS, UrbanArea

PLAN_YEAR = 2025
GK_REASON = (
    "one CGCS2000 3-degree Gauss-Kruger zone for the whole city, chosen from the centre longitude of the city's"
    " bounds: EPSG:4547 (CM 114E) holds 64% of the city incl. the urban core, with scale error <= 0.05% at the"
    " west edge of 湘乡; shapes are drawn in metres there, every reported area/length is geodesic"
)
# Township "seats" are drawn once from a fixed stream so a place keeps its name whatever the build seed.
_TOWNSHIP_SEED = 20250101


@dataclass
class DemoContext:
    """Shared state of one demo build.

    Attributes
    ----------
    seed : the build seed; each layer draws from its own stream (see :meth:`rng`).
    boundaries : the ``counties`` layer (WGS84), city row included.
    gk_epsg : the Gauss-Kruger CRS in which shapes are drawn in metres.
    county_m : county adcode -> polygon in ``gk_epsg`` metres.
    occupied : metric footprints placed so far (farmland, hubs, communities), to keep layers apart.
    """

    seed: int
    boundaries: gpd.GeoDataFrame
    gk_epsg: int
    county_m: dict[str, BaseGeometry]
    year: int = PLAN_YEAR
    occupied: list[BaseGeometry] = field(default_factory=list)
    _inner: dict[tuple[str, float], BaseGeometry] = field(default_factory=dict)
    _seats: dict[str, tuple[list[str], npt.NDArray[np.float64]]] = field(default_factory=dict)

    @classmethod
    def create(cls, seed: int, boundaries: gpd.GeoDataFrame | None = None) -> DemoContext:
        """Build the context: load the boundaries and project the counties to the city's GK zone."""
        frame = load_boundaries() if boundaries is None else boundaries
        minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
        epsg = gk_zone_for_bounds((minx, miny, maxx, maxy))
        by_id = dict(zip(frame["id"], frame.geometry, strict=True))
        county_m = {c: transform_geometry(by_id[c], WGS84, epsg) for c in COUNTIES}
        return cls(seed=seed, boundaries=frame, gk_epsg=epsg, county_m=county_m)

    def rng(self, key: str) -> np.random.Generator:
        """Return a fresh generator for ``key`` (a layer id): same seed and key, same numbers."""
        return np.random.default_rng([self.seed, zlib.crc32(key.encode("utf-8"))])

    def inner(self, county: str, margin_m: float) -> BaseGeometry:
        """Return the county polygon shrunk by ``margin_m`` (keeps features off boundaries and border rivers)."""
        key = (county, margin_m)
        if key not in self._inner:
            geom = shapely.buffer(self.county_m[county], -margin_m, quad_segs=2)
            shapely.prepare(geom)
            self._inner[key] = geom
        return self._inner[key]

    def point_m(self, lon: float, lat: float) -> Point:
        """Return a WGS84 lon/lat position as a point in GK metres."""
        x, y = transform_xy(lon, lat, WGS84, self.gk_epsg)
        return Point(float(x), float(y))

    def box_m(self, bounds: tuple[float, float, float, float]) -> BaseGeometry:
        """Return a lon/lat box (minx, miny, maxx, maxy) as a polygon in GK metres (edges densified)."""
        return transform_geometry(shapely.segmentize(shapely.box(*bounds), 0.01), WGS84, self.gk_epsg)

    def to_lonlat(self, geoms: list[BaseGeometry]) -> npt.NDArray[np.object_]:
        """Reproject metric geometries to WGS84 lon/lat."""
        arr = np.empty(len(geoms), dtype=object)
        arr[:] = geoms
        return transform_geometry(arr, self.gk_epsg, WGS84)

    def urban(self, area: UrbanArea, scale: float = 1.0) -> BaseGeometry:
        """Return an urban area's disc (radius times ``scale``) clipped to its county's interior."""
        disc = self.point_m(area.lon, area.lat).buffer(area.radius_m * scale, quad_segs=8)
        return shapely.intersection(disc, self.inner(area.county, 150.0))

    def urban_core(self, scale: float = 1.0) -> BaseGeometry:
        """Return the union of all urban discs (for keeping rural features out of towns)."""
        discs = [self.point_m(a.lon, a.lat).buffer(a.radius_m * scale, quad_segs=8) for a in URBAN_AREAS]
        return shapely.union_all(discs)

    def township_at(self, county: str, point: Point) -> str:
        """Return the township (or urban sub-district) whose seat is nearest to a metric point of ``county``."""
        urban = next((a for a in URBAN_AREAS if a.county == county), None)
        in_town = urban is not None and self.point_m(urban.lon, urban.lat).distance(point) <= urban.radius_m
        names, seats = self._township_seats(county, urban=in_town)
        d2 = (seats[:, 0] - point.x) ** 2 + (seats[:, 1] - point.y) ** 2
        return names[int(np.argmin(d2))]

    def township_seats(self, county: str) -> list[tuple[str, Point]]:
        """Return the rural townships of ``county`` with their (generated) seat positions in metres."""
        names, seats = self._township_seats(county, urban=False)
        return [(n, Point(x, y)) for n, (x, y) in zip(names, seats, strict=True)]

    def _township_seats(self, county: str, urban: bool) -> tuple[list[str], npt.NDArray[np.float64]]:
        key = f"{county}:{'urban' if urban else 'rural'}"
        if key not in self._seats:
            names = list(STREETS[county] if urban else TOWNSHIPS[county])
            rng = np.random.default_rng([_TOWNSHIP_SEED, zlib.crc32(key.encode("utf-8"))])
            area = next((a for a in URBAN_AREAS if a.county == county), None)
            if urban and area is not None:
                region = self.urban(area)
            else:
                region = shapely.difference(self.inner(county, 1500.0), self.urban_core())
            points = spread_points(region, len(names), rng)
            self._seats[key] = (names, np.array([(p.x, p.y) for p in points]))
        return self._seats[key]


def spread_points(region: BaseGeometry, n: int, rng: np.random.Generator, candidates: int = 40) -> list[Point]:
    """Return ``n`` points inside ``region``, spread out (each the farthest of several random candidates).

    Parameters
    ----------
    region : shapely geometry
        Polygonal region (metres).
    n : int
        How many points.
    rng : numpy.random.Generator
        Random stream.
    candidates : int
        Candidates tried per point (Mitchell's best-candidate sampling).
    """
    pool = random_points_in(region, n * candidates, rng)
    chosen = [pool[0]]
    coords = np.array([(p.x, p.y) for p in pool])
    for k in range(1, n):
        block = coords[k * candidates : (k + 1) * candidates]
        taken = np.array([(p.x, p.y) for p in chosen])
        d2 = ((block[:, None, :] - taken[None, :, :]) ** 2).sum(axis=2).min(axis=1)
        chosen.append(pool[k * candidates + int(np.argmax(d2))])
    return chosen


def random_points_in(region: BaseGeometry, n: int, rng: np.random.Generator) -> list[Point]:
    """Return ``n`` uniformly random points inside a polygonal region (rejection sampling in its bounds).

    Raises
    ------
    ValueError
        If the region is empty.
    """
    if region.is_empty:
        raise ValueError("cannot sample points in an empty region")
    shapely.prepare(region)
    minx, miny, maxx, maxy = region.bounds
    out: list[Point] = []
    while len(out) < n:
        x = rng.uniform(minx, maxx, 4 * n + 16)
        y = rng.uniform(miny, maxy, 4 * n + 16)
        keep = shapely.contains_xy(region, x, y)
        out.extend(Point(a, b) for a, b in zip(x[keep], y[keep], strict=True))
    return out[:n]
