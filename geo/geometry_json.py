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


def geometry_texts(geoms: np.ndarray, decimals: int | None = None) -> list[bytes | None]:
    """Return the GeoJSON text of each geometry, byte for byte what ``orjson`` writes for :func:`geometry_dicts`.

    The vertices of a whole page are written by one ``orjson`` call on the rounded coordinate array
    (numpy floats are written in the same shortest form as Python floats), and each geometry's text is
    cut from it and bracketed: no Python list per vertex, which is what makes exports of millions of
    parcels slow. Collections and 3D geometries go through :func:`geometry_dicts`.

    Examples
    --------
    >>> geometry_texts(np.array([shapely.Point(112.845993, 27.517652), None]))
    [b'{"type":"Point","coordinates":[112.845993,27.517652]}', None]
    """
    geoms = np.asarray(geoms, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out: list[bytes | None] = [None] * len(geoms)
    plain = present & np.isin(shapely.get_type_id(geoms), list(_TYPE_NAMES)) & ~shapely.has_z(geoms)
    for i, text in zip(np.flatnonzero(plain).tolist(), _plain_texts(geoms[plain], decimals), strict=True):
        out[i] = text
    other = np.flatnonzero(present & ~plain)
    for i, geometry in zip(other.tolist(), geometry_dicts(geoms[other], decimals), strict=True):
        out[i] = orjson.dumps(geometry)
    return out


def _plain_texts(geoms: np.ndarray, decimals: int | None) -> list[bytes]:
    """Return GeoJSON texts for 2D (Multi)Point/LineString/Polygon geometries, none empty."""
    if not len(geoms):
        return []
    kinds = shapely.get_type_id(geoms)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    part_texts = _part_texts(parts, decimals)
    if part_texts is None:  # an empty part: rare, done the slow way
        return [orjson.dumps(g) for g in _plain_dicts(geoms, decimals)]
    heads = {k: b'{"type":"%s","coordinates":' % name.encode() for k, name in _TYPE_NAMES.items()}
    multi = kinds >= _MULTI
    if not multi.any() or (multi.all() and len(parts) == len(geoms)):
        # one part each: the common case (every parcel a one-part MultiPolygon) needs no grouping
        open_, close = (b"[", b"]}") if multi.any() else (b"", b"}")
        if (kinds == kinds[0]).all():
            head = heads[int(kinds[0])] + open_
            return [head + t + close for t in part_texts]
        return [heads[k] + open_ + t + close for k, t in zip(kinds.tolist(), part_texts, strict=True)]
    ends = np.cumsum(np.bincount(owner, minlength=len(geoms))).tolist()
    out, start = [], 0
    for kind, end in zip(kinds.tolist(), ends, strict=True):
        body = b"[" + b",".join(part_texts[start:end]) + b"]" if kind >= _MULTI else part_texts[start]
        out.append(heads[kind] + body + b"}")
        start = end
    return out


def _part_texts(parts: np.ndarray, decimals: int | None = None) -> list[bytes] | None:
    """Return the ``coordinates`` text of single-part geometries, cut from one text of all their vertices.

    None when a part (or ring) is empty.
    """
    kinds = shapely.get_type_id(parts)
    holes = shapely.get_num_interior_rings(parts)
    if holes.any():
        # each vertex sequence (ring, line or point) in the order of the parts, rings in polygon order
        polygons = np.flatnonzero(kinds == _POLYGON)
        rings, ring_of = shapely.get_rings(parts[polygons], return_index=True)
        others = np.flatnonzero(kinds != _POLYGON)
        sequence_part = np.concatenate([polygons[ring_of], others])
        order = np.argsort(sequence_part, kind="stable")
        sequences, sequence_part = np.concatenate([rings, parts[others]])[order], sequence_part[order]
    else:  # one sequence per part: no rings to take apart
        sequences, sequence_part = parts, np.arange(len(parts))
    counts = shapely.get_num_coordinates(sequences)
    if not counts.all():
        return None
    spans = vertex_spans(shapely.get_coordinates(sequences), counts, decimals)
    if not holes.any():
        bracket = np.where(kinds == _POLYGON, 2, np.where(kinds == _POINT, 0, 1))
        if (bracket == bracket[0]).all():
            open_, close = b"[" * int(bracket[0]), b"]" * int(bracket[0])
            return [open_ + s + close for s in spans]
        return [b"[" * b + s + b"]" * b for b, s in zip(bracket.tolist(), spans, strict=True)]
    out, start = [], 0
    for kind, count in zip(kinds.tolist(), np.bincount(sequence_part, minlength=len(parts)).tolist(), strict=True):
        group = spans[start : start + count]
        if kind == _POLYGON:
            out.append(b"[[" + b"],[".join(group) + b"]]" if group else b"[]")
        else:
            out.append(group[0] if kind == _POINT else b"[" + group[0] + b"]")
        start += count
    return out


def vertex_spans(vertices: np.ndarray, counts: np.ndarray, decimals: int | None) -> list[bytes]:
    """Return the text ``[x,y],[x,y],...`` of each run of ``counts`` vertices, from one ``orjson`` call."""
    if decimals is not None:
        vertices = np.round(vertices, decimals)
    text = orjson.dumps(np.ascontiguousarray(vertices), option=orjson.OPT_SERIALIZE_NUMPY)
    # "[[x,y],[x,y],...]": every "[" after the first opens a vertex (numbers hold no brackets)
    opens = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == ord("["))[1:]
    closes = np.append(opens[1:] - 1, len(text) - 1)  # just past each vertex's "]"
    last = np.cumsum(counts) - 1
    first = np.append(0, last[:-1] + 1)
    return [text[a:b] for a, b in zip(opens[first].tolist(), closes[last].tolist(), strict=True)]


__all__ = ["geometry_dicts", "geometry_texts", "round_coordinates", "vertex_spans"]
