"""SQLite WHERE/ORDER BY clauses for a Filter, with bound parameters and identifiers checked by schema."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Any

import shapely
from shapely import box
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidFilter
from geo.storage.base import Filter, SortKey
from geo.storage.codec import gpkg_blob_to_wkb
from geo.types import BBox


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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


_TRUE = ("true", "1", "yes", "t")
_FALSE = ("false", "0", "no", "f")


def _coerce(value: Any, kind: str) -> Any:
    """Coerce a value (numpy scalars, and text from a query string) to the column's type, or raise."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalars would otherwise be stored as raw bytes
    try:
        if kind == "int" and not isinstance(value, bool):
            return int(value) if not isinstance(value, float) or value.is_integer() else _bad(value, kind)
        if kind == "float" and not isinstance(value, bool):
            return float(value)
    except (TypeError, ValueError):
        return _bad(value, kind)
    if kind == "bool" and isinstance(value, str):
        lowered = value.strip().lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else _bad(value, kind)
    return value


def _bad(value: Any, kind: str) -> Any:
    raise InvalidFilter(f"value {value!r} does not fit a column of type {kind}")


def to_sql_value(value: Any, kind: str) -> Any:
    """Encode a Python value as SQLite stores a column of planmap type ``kind``.

    Raises ``InvalidFilter`` when the value cannot be one of that type (e.g. ``"abc"`` for an int).
    """
    if value is None:
        return None
    value = _coerce(value, kind)
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind == "bool":
        return int(bool(value))
    if isinstance(value, date):
        return value.isoformat()
    return value


def _spatial(layer: str, geom_col: str, geom: BaseGeometry) -> tuple[str, list[Any]]:
    """R-tree candidates; an exact shapely test only where the envelope is not inside a query box."""
    rtree = _q(f"rtree_{layer}_{geom_col}")
    minx, miny, maxx, maxy = geom.bounds
    overlap = f"SELECT id FROM {rtree} WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?"
    params: list[Any] = [maxx, minx, maxy, miny]
    exact = f"planmap_intersects({_q(geom_col)}, ?)"
    if geom.equals(box(minx, miny, maxx, maxy)):
        inside = f"SELECT id FROM {rtree} WHERE minx >= ? AND maxx <= ? AND miny >= ? AND maxy <= ?"
        # The outer IN drives rowid lookups from the R-tree; the exact test runs only for envelopes that
        # cross the box edge (an OR at the top level would make SQLite scan the whole table).
        sql = f'("fid" IN ({overlap}) AND ("fid" IN ({inside}) OR {exact}))'
        return sql, [*params, minx, maxx, miny, maxy, shapely.to_wkb(geom)]
    return f'("fid" IN ({overlap}) AND {exact})', [*params, shapely.to_wkb(geom)]


def bbox_count(layer: str, geom_col: str, bbox: BBox) -> tuple[str, list[Any]]:
    """Return SQL counting features that intersect ``bbox``, touching rows only where the envelope crosses it.

    Envelopes inside the box are counted on the R-tree alone; only those crossing its edge are read and
    tested exactly, which keeps counts of large boxes cheap.
    """
    rtree = _q(f"rtree_{layer}_{geom_col}")
    minx, miny, maxx, maxy = bbox
    inside = "minx >= ? AND maxx <= ? AND miny >= ? AND maxy <= ?"
    overlap = "minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?"
    sql = (
        f"SELECT (SELECT count(*) FROM {rtree} WHERE {inside}) + (SELECT count(*) FROM {_q(layer)} "
        f'WHERE "fid" IN (SELECT id FROM {rtree} WHERE {overlap} AND NOT ({inside})) '
        f"AND planmap_intersects({_q(geom_col)}, ?))"
    )
    inside_params = [minx, maxx, miny, maxy]
    params = [*inside_params, maxx, minx, maxy, miny, *inside_params, shapely.to_wkb(box(*bbox))]
    return sql, params


def _check_column(name: str, types: dict[str, str]) -> str:
    if name not in types:
        raise InvalidFilter(f"unknown property {name!r}; queryable properties are {sorted(types)}")
    return _q(name)


def _equals(column: str, value: Any, types: dict[str, str]) -> tuple[str, list[Any]]:
    ident = _check_column(column, types)
    kind = types[column]
    if isinstance(value, list | tuple | set | frozenset):
        values = [to_sql_value(v, kind) for v in value]
        if not values:
            return "0", []
        return f"{ident} IN ({', '.join('?' * len(values))})", values
    if value is None:
        return f"{ident} IS NULL", []
    return f"{ident} = ?", [to_sql_value(value, kind)]


def where_clause(layer: str, geom_col: str, where: Filter | None, types: dict[str, str]) -> tuple[str, list[Any]]:
    """Return `` WHERE ...`` (or an empty string) and its parameters."""
    if where is None:
        return "", []
    parts: list[str] = []
    params: list[Any] = []

    def add(sql: str, values: Sequence[Any]) -> None:
        parts.append(sql)
        params.extend(values)

    if where.bbox is not None:
        add(*_spatial(layer, geom_col, box(*where.bbox)))
    if where.intersects is not None:
        add(*_spatial(layer, geom_col, where.intersects))
    if where.ids is not None:
        add(*_equals("id", list(where.ids), types))
    for column, value in where.equals.items():
        add(*_equals(column, value, types))
    if where.cql is not None:
        from geo.storage.cql_sql import cql_to_sql

        add(*cql_to_sql(where.cql, types, geom_col=geom_col, layer=layer))
    return (" WHERE " + " AND ".join(parts), params) if parts else ("", [])


def order_clause(sortby: Sequence[SortKey], types: dict[str, str]) -> str:
    """Return `` ORDER BY ...``; ties are broken by id so pages are stable.

    Layers are written sorted by id (``encode_frame``), so ``fid`` order is id order; ordering by the
    rowid lets SQLite stream R-tree hits in order and stop at LIMIT instead of sorting every match.
    """
    terms = [f"{_check_column(k.column, types)} {'DESC' if k.descending else 'ASC'}" for k in sortby]
    terms.append('"fid" ASC')
    return " ORDER BY " + ", ".join(terms)


def history_conditions(
    layer: str | None, feature_ids: Sequence[str] | None, until: date | None
) -> tuple[str, list[Any]]:
    """Return the WHERE part of a history query."""
    parts: list[str] = []
    params: list[Any] = []
    if layer is not None:
        parts.append("layer = ?")
        params.append(layer)
    if feature_ids is not None:
        parts.append(f"feature_id IN ({', '.join('?' * len(feature_ids))})" if feature_ids else "0")
        params.extend(feature_ids)
    if until is not None:
        parts.append("date <= ?")
        params.append(until.isoformat())
    return (" WHERE " + " AND ".join(parts), params) if parts else ("", [])
