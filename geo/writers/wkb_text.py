"""GeoJSON geometry text straight from WKB for the shapes most layers hold, without building geometries.

A whole-layer export of a million parcels spends much of its time turning WKB into shapely geometries
and taking them apart again. Parcels are one-ring polygons (often wrapped in a one-part MultiPolygon) and
sites are points, whose WKB has a fixed layout: its counts and coordinates are read here with numpy for a
whole page at once. Any other page goes through shapely (:func:`geo.geometry_json.geometry_texts`). Both
give the same bytes.
"""

from __future__ import annotations

import numpy as np

import shapely

from geo.geometry_json import geometry_texts, vertex_spans
from geo.writers.frames import promote

_POINT, _POLYGON, _MULTIPOLYGON = 1, 3, 6
_COORDINATE_BYTES = 16  # x and y, float64


def wkb_geometry_texts(wkbs: list[bytes | None], decimals: int, geometry_type: str) -> list[bytes | None]:
    """Return the GeoJSON text of each WKB geometry (None for a missing one), coordinates rounded to ``decimals``.

    Single parts are written as multi-parts when ``geometry_type`` is a Multi* type, as
    :func:`geo.writers.frames.promote` makes them.

    Examples
    --------
    >>> wkb_geometry_texts([shapely.to_wkb(shapely.Point(112.123456789, 27.5)), None], 7, "Point")
    [b'{"type":"Point","coordinates":[112.1234568,27.5]}', None]
    """
    present = [i for i, w in enumerate(wkbs) if w is not None]
    blobs = [w for w in wkbs if w is not None]
    texts: list[bytes] | list[bytes | None] | None = _simple_texts(blobs, decimals, geometry_type) if blobs else []
    if texts is None:
        geoms = promote(shapely.from_wkb(np.array(blobs, dtype=object)), geometry_type)
        texts = geometry_texts(geoms, decimals)
    out: list[bytes | None] = [None] * len(wkbs)
    for i, text in zip(present, texts, strict=True):
        out[i] = text
    return out


def _u32(buf: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Read little-endian uint32 values at byte offsets ``at`` (unaligned)."""
    return (
        buf[at].astype(np.int64)
        | buf[at + 1].astype(np.int64) << 8
        | buf[at + 2].astype(np.int64) << 16
        | buf[at + 3].astype(np.int64) << 24
    )


def _layout(buf: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Return (kind, header bytes, vertex count) per geometry when every one is a simple 2D shape, else None."""
    if not (buf[starts] == 1).all():  # big-endian WKB: rare, left to shapely
        return None
    kind = _u32(buf, starts + 1)
    if np.isin(kind, (_POLYGON, _MULTIPOLYGON)).all():
        multi = kind == _MULTIPOLYGON
        ring = starts + np.where(multi, 14, 5)  # offset of the ring count
        single = ~multi | ((_u32(buf, starts + 5) == 1) & (buf[starts + 9] == 1) & (_u32(buf, starts + 10) == _POLYGON))
        if not (single & (_u32(buf, ring) == 1)).all():  # several parts or rings: shapely
            return None
        return kind, np.where(multi, 22, 13), _u32(buf, ring + 4)
    if (kind == _POINT).all():
        return kind, np.full(len(starts), 5), np.ones(len(starts), dtype=np.int64)
    return None


def _simple_texts(blobs: list[bytes], decimals: int, geometry_type: str) -> list[bytes] | None:
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    if (lengths < 21).any():  # shorter than a point: an empty geometry
        return None
    buf = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    layout = _layout(buf, starts)
    if layout is None:
        return None
    kind, header, counts = layout
    if not ((lengths == header + _COORDINATE_BYTES * counts) & (counts > 0)).all():
        return None
    edges = np.zeros(len(buf) + 1, dtype=np.int8)  # +1 where a coordinate run starts, -1 where it ends
    np.add.at(edges, starts + header, 1)
    np.add.at(edges, starts + lengths, -1)
    vertices = buf[np.cumsum(edges[:-1]) > 0].view("<f8").reshape(-1, 2)
    if np.isnan(vertices).any():  # an empty point
        return None
    spans = vertex_spans(vertices, counts, decimals)
    if kind[0] == _POINT:
        if geometry_type == "MultiPoint":
            return [b'{"type":"MultiPoint","coordinates":[' + s + b"]}" for s in spans]
        return [b'{"type":"Point","coordinates":' + s + b"}" for s in spans]
    if geometry_type == "MultiPolygon" or (kind == _MULTIPOLYGON).all():
        return [b'{"type":"MultiPolygon","coordinates":[[[' + s + b"]]]}" for s in spans]
    polygon, multipolygon = b'{"type":"Polygon","coordinates":[[', b'{"type":"MultiPolygon","coordinates":[[['
    return [
        (multipolygon + s + b"]]]}") if k == _MULTIPOLYGON else (polygon + s + b"]]}")
        for k, s in zip(kind.tolist(), spans, strict=True)
    ]
