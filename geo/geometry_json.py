"""GeoJSON geometry objects from arrays of shapely geometries: rounded coordinates, written in their shortest form."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

import shapely

_TYPE_NAMES = {0: "Point", 1: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString", 6: "MultiPolygon"}
_POINT, _POLYGON, _MULTI = 0, 3, 4


def round_coordinates(geoms: np.ndarray, decimals: int) -> np.ndarray:
    """Return the geometries with every coordinate rounded to ``decimals``, vertex for vertex.

    Not ``shapely.set_precision``: that snaps to a grid and rebuilds the topology (vertices merge,
    slivers collapse, rings can vanish). ``np.round`` divides the rounded integer by a power of ten,
    so each value is the double nearest a ``decimals``-decimal number, whose shortest text has at
    most ``decimals`` decimals (see :func:`geometry_dicts`).

    Examples
    --------
    >>> round_coordinates(np.array([shapely.Point(112.84599300000001, 27.51765249)]), 7)[0].coords[0]
    (112.845993, 27.5176525)
    """
    return np.asarray(shapely.transform(geoms, lambda coords: np.round(coords, decimals)), dtype=object)


def geometry_dicts(geoms: np.ndarray, decimals: int | None = None) -> list[dict[str, Any] | None]:
    """Return GeoJSON geometry objects for an array of geometries (None for missing or empty ones).

    Coordinates are Python floats, which ``orjson`` and ``json`` write in their shortest round-trip
    form, so rounded coordinates (see :func:`round_coordinates`) keep their few decimals. GEOS's own
    GeoJSON writer prints 17 significant digits (``112.845993`` as ``112.84599300000001``), so it is
    used only for what the vectorised path below does not cover: collections and 3D geometries.

    With ``decimals`` the coordinates are rounded as :func:`round_coordinates` rounds them (the same
    doubles), on the extracted vertex array, without building rounded geometries first.

    Examples
    --------
    >>> geometry_dicts(np.array([shapely.Point(112.845993, 27.517652), None]))
    [{'type': 'Point', 'coordinates': [112.845993, 27.517652]}, None]
    """
    geoms = np.asarray(geoms, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out: list[dict[str, Any] | None] = [None] * len(geoms)
    plain = present & np.isin(shapely.get_type_id(geoms), list(_TYPE_NAMES)) & ~shapely.has_z(geoms)
    for i, geometry in zip(np.flatnonzero(plain).tolist(), _plain_dicts(geoms[plain], decimals), strict=True):
        out[i] = geometry
    other = np.flatnonzero(present & ~plain)
    if len(other):
        rest = geoms[other] if decimals is None else round_coordinates(geoms[other], decimals)
        parsed = orjson.loads("[" + ",".join(shapely.to_geojson(rest)) + "]")
        for i, geometry in zip(other.tolist(), parsed, strict=True):
            out[i] = geometry
    return out


def _plain_dicts(geoms: np.ndarray, decimals: int | None) -> list[dict[str, Any]]:
    """Return GeoJSON objects for 2D (Multi)Point/LineString/Polygon geometries, none empty."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    values = _part_coordinates(parts, decimals)
    ends = np.cumsum(np.bincount(owner, minlength=len(geoms))).tolist()
    out, start = [], 0
    for kind, end in zip(shapely.get_type_id(geoms).tolist(), ends, strict=True):
        coordinates = values[start:end] if kind >= _MULTI else values[start]
        out.append({"type": _TYPE_NAMES[kind], "coordinates": coordinates})
        start = end
    return out


def _part_coordinates(parts: np.ndarray, decimals: int | None) -> list[Any]:
    """Return the GeoJSON ``coordinates`` of single-part geometries, from one pass over all their vertices."""
    kinds = shapely.get_type_id(parts)
    polygons = np.flatnonzero(kinds == _POLYGON)
    rings, ring_of = shapely.get_rings(parts[polygons], return_index=True)
    others = np.flatnonzero(kinds != _POLYGON)
    # every vertex sequence (ring, line or point) in the order of the parts, rings in polygon order
    sequences = np.concatenate([rings, parts[others]])
    sequence_part = np.concatenate([polygons[ring_of], others])
    order = np.argsort(sequence_part, kind="stable")
    ends = np.cumsum(shapely.get_num_coordinates(sequences[order])).tolist()
    vertices = shapely.get_coordinates(sequences[order])
    coords = (vertices if decimals is None else np.round(vertices, decimals)).tolist()
    kind_of = kinds.tolist()
    values: list[Any] = [[] if kind == _POLYGON else None for kind in kind_of]
    start = 0
    for end, part in zip(ends, sequence_part[order].tolist(), strict=True):
        sequence, start = coords[start:end], end
        if kind_of[part] == _POLYGON:
            values[part].append(sequence)
        else:
            values[part] = sequence[0] if kind_of[part] == _POINT else sequence
    return values


__all__ = ["geometry_dicts", "round_coordinates"]
