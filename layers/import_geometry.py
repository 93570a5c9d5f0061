"""Bringing imported geometries into the plan: CRS, GCJ-02/BD-09, swapped axes, validity, type and place."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

import geopandas as gpd
import pyproj
import shapely
from shapely.geometry import MultiLineString, MultiPoint, MultiPolygon
from shapely.geometry.base import BaseGeometry

from geo.crs import convert_geometry, gk_zone_for_bounds, transform_geometry
from geo.crsguess import guess_crs
from geo.measure import area_mu
from geo.types import CoordSys
from layers.models import LayerGeometry

CANDIDATE_CRS = ("OGC:CRS84", "EPSG:4547", "EPSG:4546", "EPSG:4526", "EPSG:4525", "EPSG:3857")
"""CRSs tried, in this order, for files that declare none: lon/lat, the two 3-degree Gauss-Krüger zones over
Xiangtan (CM 114E and 111E) without and with the zone prefix, and Web Mercator."""

AREA_BUFFER_M = 1000.0
CONFORM_BLOCK = 100_000
"""Geometries conformed at a time."""
_GUESS_MARGIN_DEG = 0.1
_FAMILIES: dict[str, tuple[str, ...]] = {
    "Point": ("Point",),
    "MultiPoint": ("Point",),
    "MultiLineString": ("LineString", "LinearRing"),
    "MultiPolygon": ("Polygon",),
}
_MULTI = {"MultiPoint": MultiPoint, "MultiLineString": MultiLineString, "MultiPolygon": MultiPolygon}
Geometries = npt.NDArray[np.object_]


@dataclass
class PlacedGeometries:
    """Geometries in WGS84 lon/lat, with what was found on the way (row indexes are 0-based)."""

    geoms: Geometries
    crs: str | None = None
    crs_source: str | None = None
    problems: list[tuple[int, str]] = field(default_factory=list)
    repairs: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    clipped: list[tuple[int, float | None, float | None]] = field(default_factory=list)
    """Rows clipped to the city: (row, area before, area after in mu; None for non-polygon layers)."""


OUTSIDE_CITY = "wholly outside the Xiangtan city boundary (on_invalid=clip)"


def city_polygon(counties: gpd.GeoDataFrame) -> BaseGeometry:
    """Return the union of the county boundaries (the city), prepared for repeated tests."""
    city = shapely.union_all(np.asarray(counties.geometry.array, dtype=object))
    shapely.prepare(city)
    return city


def clip_to_city(geoms: Geometries, city: BaseGeometry, target: LayerGeometry, out: PlacedGeometries) -> None:
    """Clip, in place, the geometries crossing the city edge; name those wholly outside as problems.

    Only the rows not covered by the city's bounding box are tested exactly, then only those not within
    the (prepared) city are intersected. Rows already named as problems are left alone.
    """
    bad = {row for row, _ in out.problems}
    present = np.flatnonzero(~shapely.is_missing(geoms))
    rows = np.array([r for r in present.tolist() if r not in bad], dtype=np.intp) if bad else present
    if not len(rows):
        return
    inside_box = shapely.within(geoms[rows], shapely.box(*city.bounds))
    edge = rows[~inside_box] if not inside_box.all() else rows[:0]
    edge = np.concatenate([edge, rows[inside_box][~shapely.within(geoms[rows[inside_box]], city)]])
    edge.sort()
    if not len(edge):
        return
    touching = shapely.intersects(city, geoms[edge])
    out.problems += [(int(r), OUTSIDE_CITY) for r in edge[~touching]]
    cut_rows = edge[touching]
    if not len(cut_rows):
        return
    before = geoms[cut_rows]
    cut = shapely.intersection(before, city)
    family = _FAMILIES[target]
    polygonal = target == "MultiPolygon"
    areas_before = area_mu(before) if polygonal else None
    done: list[tuple[int, float | None]] = []
    for i, (row, geom) in enumerate(zip(cut_rows.tolist(), cut, strict=True)):
        kept = [p for p in _parts(geom) if p.geom_type in family and not p.is_empty]
        if not kept:
            out.problems.append((row, OUTSIDE_CITY))
            continue
        geoms[row] = _MULTI[target](kept) if target in _MULTI else kept[0]
        done.append((row, float(areas_before[i]) if areas_before is not None else None))
    after = area_mu(geoms[[r for r, _ in done]]).tolist() if polygonal and done else [None] * len(done)
    out.clipped += [(row, was, now) for (row, was), now in zip(done, after, strict=True)]


def plan_area(counties: gpd.GeoDataFrame, buffer_m: float = AREA_BUFFER_M) -> BaseGeometry:
    """Return the union of the county boundaries grown by ``buffer_m`` metres (in a Gauss-Krüger zone)."""
    union = shapely.union_all(np.asarray(counties.geometry.array, dtype=object))
    zone = gk_zone_for_bounds(tuple(union.bounds))
    grown = transform_geometry(transform_geometry(union, 4326, zone).buffer(buffer_m), zone, 4326)
    shapely.prepare(grown)
    return grown


def crs_label(crs: pyproj.CRS) -> str:
    """Return ``EPSG:nnnn`` or ``OGC:CRS84`` (else the CRS name) for the report."""
    authority = crs.to_authority(min_confidence=70)
    return ":".join(authority) if authority else crs.name


def _all_degrees(geoms: Geometries) -> bool:
    coords = shapely.get_coordinates(geoms)
    return bool(len(coords)) and bool((np.abs(coords[:, 0]) <= 180).all() and (np.abs(coords[:, 1]) <= 90).all())


def _source_crs(geoms: Geometries, crs: pyproj.CRS | None, area: BaseGeometry, out: PlacedGeometries) -> pyproj.CRS:
    if crs is not None:
        out.crs, out.crs_source = crs_label(crs), "file"
        return crs
    minx, miny, maxx, maxy = area.bounds
    loose = (minx - _GUESS_MARGIN_DEG, miny - _GUESS_MARGIN_DEG, maxx + _GUESS_MARGIN_DEG, maxy + _GUESS_MARGIN_DEG)
    present = geoms[~shapely.is_missing(geoms)]
    guessed = guess_crs(present, CANDIDATE_CRS, loose)
    if guessed is None and _all_degrees(present):
        # plain lon/lat that lies elsewhere: take it as such, so each row is then named as outside the area
        guessed = pyproj.CRS.from_user_input(CANDIDATE_CRS[0])
    if guessed is None:
        raise ValueError(f"the file declares no CRS and its coordinates fit none of {', '.join(CANDIDATE_CRS)}")
    out.crs, out.crs_source = crs_label(guessed), "inferred"
    out.warnings.append(f"the file declares no CRS; {out.crs} was inferred from the coordinate ranges")
    return guessed


def dimension_counts(geoms: npt.ArrayLike) -> Counter[str]:
    """Count the geometries with Z (height) and with M (measure) values."""
    array = np.asarray(geoms, dtype=object)
    return Counter({"Z": int(np.count_nonzero(shapely.has_z(array))), "M": int(np.count_nonzero(shapely.has_m(array)))})


def dropped_dimensions(geoms: npt.ArrayLike, measured: bool = False, counts: Counter[str] | None = None) -> list[str]:
    """Return warnings naming the Z (height) and M (measure) values that importing drops: the plan is 2D.

    ``measured`` says the file declared M values that were already dropped on reading; ``counts`` (from
    :func:`dimension_counts`, e.g. summed over a file's chunks) stands for counting ``geoms``.
    """
    counts = dimension_counts(geoms) if counts is None else counts
    names = {"Z": "height", "M": "measure"}
    warnings = [
        f"{n} feature(s) have {d} ({names[d]}) values; they were dropped (the plan stores 2D geometries)"
        for d, n in sorted(counts.items(), reverse=True)
        if n
    ]
    if measured and not counts["M"]:
        warnings.append("the file's geometries carry M (measure) values; they were dropped (2D geometries)")
    return warnings


def _parts(geom: BaseGeometry) -> list[BaseGeometry]:
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _parts(g)]
    return [geom]


def conform_geometry(
    geom: BaseGeometry | None, target: LayerGeometry, repair: bool = True
) -> tuple[BaseGeometry | None, str | None, str | None]:
    """Return (geometry of the layer's type, repair note, problem): 2D, valid, promoted to Multi* if needed.

    Invalid geometries are repaired with ``shapely.make_valid`` (keeping the parts of the layer's geometry
    family) when ``repair`` is set, else reported.

    Examples
    --------
    >>> from shapely import Polygon
    >>> geom, note, problem = conform_geometry(Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), "MultiPolygon")
    >>> geom.geom_type, len(geom.geoms), problem
    ('MultiPolygon', 2, None)
    """
    if geom is None or geom.is_empty:
        return None, None, "no geometry"
    geom = shapely.force_2d(geom)
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        return None, None, "coordinates are not finite numbers"
    note = None
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        if not repair:
            return None, None, f"invalid geometry: {reason}"
        geom, note = shapely.make_valid(geom), f"repaired invalid geometry ({reason})"
    parts = _parts(geom)
    kept = [p for p in parts if p.geom_type in _FAMILIES[target] and not p.is_empty]
    if not kept or (note is None and len(kept) < len(parts)):
        return None, None, f"a {geom.geom_type} does not fit a {target} layer"
    if target == "Point":
        return (kept[0], note, None) if len(kept) == 1 else (None, None, f"{len(kept)} points where one is expected")
    return _MULTI[target](kept), note, None


def _conform_plain(geoms: Geometries, target: LayerGeometry) -> npt.NDArray[np.intp]:
    """Conform, in place and as whole arrays, the geometries that need no repair; return the other rows.

    A present, finite, valid geometry of the layer's single type (a Polygon for a MultiPolygon layer) is
    promoted to its Multi type, and one of the layer's type without empty parts is kept, as
    :func:`conform_geometry` does; everything else is left to it, row by row. Blocks of ``CONFORM_BLOCK``
    rows at a time bound the memory the replaced geometries hold.
    """
    rest = [_conform_block(geoms[i : i + CONFORM_BLOCK], target) + i for i in range(0, len(geoms), CONFORM_BLOCK)]
    return np.concatenate(rest) if rest else np.array([], dtype=np.intp)


def _conform_block(geoms: Geometries, target: LayerGeometry) -> npt.NDArray[np.intp]:
    single = {"Point": 0, "MultiPoint": 0, "MultiLineString": 1, "MultiPolygon": 3}[target]
    multi = {"Point": -1, "MultiPoint": 4, "MultiLineString": 5, "MultiPolygon": 6}[target]
    present = ~shapely.is_missing(geoms)
    flat = geoms[present]
    dims = shapely.has_z(flat) | shapely.has_m(flat)
    flat[dims] = shapely.force_2d(flat[dims])
    types = shapely.get_type_id(flat)
    plain = np.isin(types, (single, multi)) & ~shapely.is_empty(flat)
    coords, owner = shapely.get_coordinates(flat, return_index=True)
    plain[owner[~np.isfinite(coords).all(axis=1)]] = False
    plain[plain] = shapely.is_valid(flat[plain])
    multis = np.flatnonzero(plain & (types == multi))
    parts, part_of = shapely.get_parts(flat[multis], return_index=True)
    plain[multis[part_of[shapely.is_empty(parts)]]] = False
    singles = plain & (types == single)
    if target != "Point" and singles.any():
        make = {"MultiPoint": shapely.multipoints, "MultiLineString": shapely.multilinestrings}
        make_multi = make.get(target, shapely.multipolygons)
        flat[singles] = make_multi(flat[singles], indices=np.arange(int(singles.sum())))
    rows = np.flatnonzero(present)
    geoms[rows[plain]] = flat[plain]
    return np.sort(np.concatenate([np.flatnonzero(~present), rows[~plain]]))


def _swap_rows(geoms: Geometries, area: BaseGeometry) -> npt.NDArray[np.intp]:
    """Return rows outside the area whose swapped coordinates fall inside (lat/lon given in the wrong order)."""
    box = shapely.box(*area.bounds).buffer(_GUESS_MARGIN_DEG)
    away = np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.intersects(box, geoms))
    swapped = shapely.transform(geoms[away], lambda xy: xy[:, ::-1])  # only those away: no copy of every row
    return away[shapely.intersects(box, swapped)]


def place_geometries(
    geoms: Geometries,
    crs: pyproj.CRS | None,
    target: LayerGeometry,
    area: BaseGeometry | None,
    coordsys: CoordSys = "wgs84",
    repair: bool = True,
    clip_to: BaseGeometry | None = None,
) -> PlacedGeometries:
    """Reproject to WGS84, fix swapped lat/lon, convert GCJ-02/BD-09, conform types and check the place.

    An object array given as ``geoms`` is changed in place (and returned as ``geoms``), so that a million
    source geometries are not held twice.

    Raises ``ValueError`` (a file-level problem) when the CRS cannot be told or ``coordsys`` is asked for
    projected data. Per-row problems and repairs are returned, not raised. With ``clip_to`` (the city),
    geometries crossing its edge are clipped to it and those wholly outside it named as problems.
    """
    out = PlacedGeometries(geoms=np.asarray(geoms, dtype=object))
    source = _source_crs(out.geoms, crs, area if area is not None else shapely.box(-180, -90, 180, 90), out)
    if coordsys not in ("wgs84", "cgcs2000") and not source.is_geographic:
        raise ValueError(f"coordsys={coordsys} applies to lon/lat data, but the file is in {out.crs}")
    present = ~shapely.is_missing(out.geoms)
    if not source.equals(pyproj.CRS.from_epsg(4326)):
        out.geoms[present] = transform_geometry(out.geoms[present], source, 4326)
    rest = _conform_plain(out.geoms, target)
    for row in rest.tolist():
        out.geoms[row], note, problem = conform_geometry(out.geoms[row], target, repair)
        if problem:
            out.problems.append((row, problem))
        elif note:
            out.repairs.append((row, note))
    if source.is_geographic and area is not None:
        for row in _swap_rows(out.geoms, area):
            out.geoms[row] = shapely.transform(out.geoms[row], lambda xy: xy[:, ::-1])
            out.repairs.append((int(row), "latitude and longitude were swapped; swapped back"))
    if coordsys not in ("wgs84", "cgcs2000"):
        out.geoms = convert_geometry(out.geoms, coordsys, "wgs84")
    if area is not None:
        _check_place(out, area, target, clip_to)
    return out


def _check_place(out: PlacedGeometries, area: BaseGeometry, target: LayerGeometry, city: BaseGeometry | None) -> None:
    """Name the rows outside the area as problems; with ``city``, clip those crossing its edge."""
    outside = ~shapely.is_missing(out.geoms) & ~shapely.intersects(area, out.geoms)
    problem = f"outside Xiangtan (more than {AREA_BUFFER_M / 1000:g} km beyond the county boundaries)"
    out.problems += [(int(row), problem) for row in np.flatnonzero(outside)]
    if city is not None:
        clip_to_city(out.geoms, city, target, out)
