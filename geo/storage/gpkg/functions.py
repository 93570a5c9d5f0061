"""SQL functions the GeoPackage store registers on each sqlite3 connection (GEOS predicates, bounds, LIKE).

SQLite has no spatial functions without SpatiaLite, which is not on PyPI, so shapely (GEOS) supplies them.
"""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from geo.storage.codec import gpkg_blob_to_wkb


@lru_cache(maxsize=64)
def _prepared(wkb: bytes) -> BaseGeometry:
    geom = shapely.from_wkb(wkb)
    shapely.prepare(geom)
    return geom


def _intersects(blob: bytes | None, wkb: bytes) -> int:
    raw = gpkg_blob_to_wkb(blob)
    if raw is None:
        return 0
    return int(_prepared(wkb).intersects(shapely.from_wkb(raw)))


# Feature-vs-literal predicates evaluated on the (prepared) literal: "feature within G" is "G contains feature".
_PREDICATES = {
    "intersects": "intersects",
    "disjoint": "disjoint",
    "within": "contains",
    "contains": "within",
    "touches": "touches",
    "crosses": "crosses",
    "overlaps": "overlaps",
    "equals": "equals",
}
_EMPTY = shapely.from_wkt("GEOMETRYCOLLECTION EMPTY")


def _predicate(name: str, blob: bytes | None, wkb: bytes) -> int | None:
    """Return whether the feature geometry ``blob`` is ``name`` (within, contains ...) the literal ``wkb``.

    NULL for a NULL geometry, so the result stays three-valued like PostGIS's.
    """
    if blob is None:
        return None
    raw = gpkg_blob_to_wkb(blob)
    feature = _EMPTY if raw is None else shapely.from_wkb(raw)
    return int(getattr(shapely, _PREDICATES[name])(_prepared(wkb), feature))


@lru_cache(maxsize=256)
def _like_regex(pattern: str) -> re.Pattern[str]:
    """Compile a CQL2/SQL LIKE pattern (``%``, ``_``, ``\\`` escapes) into a regular expression."""
    parts: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            parts.append(re.escape(next(chars, "\\")))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def _like(value: str | None, pattern: str | None) -> int | None:
    """Case-sensitive LIKE (SQLite's own LIKE ignores ASCII case; PostgreSQL's and CQL2's do not)."""
    if value is None or pattern is None:
        return None
    return int(_like_regex(pattern).fullmatch(str(value)) is not None)


def _bounds(blob: bytes | None) -> tuple[float, float, float, float] | None:
    raw = gpkg_blob_to_wkb(blob)
    if raw is None:
        return None
    minx, miny, maxx, maxy = shapely.from_wkb(raw).bounds
    return minx, maxx, miny, maxy


def _bound_function(index: int) -> Any:
    def value(blob: bytes | None) -> float | None:
        bounds = _bounds(blob)
        return None if bounds is None else bounds[index]

    return value


def register_functions(conn: sqlite3.Connection) -> None:
    """Register the SQL functions planmap and the GeoPackage R-tree triggers need.

    SQLite has no spatial functions without SpatiaLite, which is not on PyPI. GDAL's R-tree triggers call
    ``ST_IsEmpty`` and ``ST_MinX``..``ST_MaxY`` (GeoPackage spec, R-tree extension), so any UPDATE of a
    feature table needs them; ``planmap_intersects`` is the exact test after the R-tree narrowed the rows,
    ``planmap_predicate(name, geom, wkb)`` the same for the other CQL2 spatial operators, and
    ``planmap_like(value, pattern)`` a case-sensitive LIKE for CQL2.
    """
    conn.create_function("planmap_intersects", 2, _intersects, deterministic=True)
    conn.create_function("planmap_predicate", 3, _predicate, deterministic=True)
    conn.create_function("planmap_like", 2, _like, deterministic=True)
    conn.create_function("ST_IsEmpty", 1, lambda b: int(gpkg_blob_to_wkb(b) is None), deterministic=True)
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        conn.create_function(name, 1, _bound_function(i), deterministic=True)
