"""The GeoPackage's SQL dialect: named ``:p`` parameters, R-tree candidates with exact GEOS tests, values.

Spatial conditions first narrow rows on the layer's R-tree (``rtree_<layer>_<geom>``, GeoPackage spec
extension F.3), then test exactly with the GEOS functions of ``geo.storage.gpkg.functions``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import shapely
from shapely import box
from shapely.geometry.base import BaseGeometry

from geo.storage.sql.dialect import Dialect, Params, check_column, coerce_value, quote_ident
from geo.storage.values import SortKey
from geo.types import BBox


def rtree(layer: str, geom_col: str) -> str:
    """Return the quoted name of a layer's R-tree table."""
    return quote_ident(f"rtree_{layer}_{geom_col}")


class SqliteDialect(Dialect):
    """SQLite with planmap's registered functions (``planmap_intersects``, ``planmap_predicate``, ``planmap_like``)."""

    mark = ":{}"

    def casei(self, sql: str) -> str:
        """SQLite's ``lower`` folds ASCII only, as CQL2's ``casei`` asks."""
        return f"lower({sql})"

    def literal(self, value: Any, kind: str) -> Any:
        """Booleans are stored as 0/1 and dates as ISO text."""
        if kind == "bool":
            return int(value)
        return value.isoformat() if isinstance(value, date) else value

    def like(self, term: str, kind: str, pattern: str, p: Params) -> str:
        """SQLite's own LIKE ignores ASCII case; CQL2's does not, so a registered function decides."""
        return f"planmap_like({term}, {p(pattern)})"

    def spatial(self, layer: str, geom_col: str, name: str, geom: BaseGeometry, negated: bool, p: Params) -> str:
        """R-tree candidates, then the exact test (two-valued, so NULL geometries are kept unknown under NOT)."""
        column = quote_ident(geom_col)
        if name in ("intersects", "disjoint"):
            sql = intersects(layer, geom_col, geom, p)
            if name == "disjoint":
                sql = f"({column} IS NOT NULL AND NOT {sql})"
        else:
            sql = f'("fid" IN ({_overlap(layer, geom_col, geom.bounds, p)}) AND '
            sql += f"planmap_predicate({p(name)}, {column}, {p(shapely.to_wkb(geom))}))"
        return f"({column} IS NULL OR {sql})" if negated else sql

    def order_by(self, sortby: Sequence[SortKey], types: dict[str, str]) -> str:
        """Order by the sort keys, then ``fid``.

        Layers are written sorted by id (``prepare_layer``), so ``fid`` order is id order; ordering by the
        rowid lets SQLite stream R-tree hits in order and stop at LIMIT instead of sorting every match.
        """
        terms = [f"{check_column(k.column, types)} {'DESC' if k.descending else 'ASC'}" for k in sortby]
        return " ORDER BY " + ", ".join([*terms, '"fid" ASC'])


SQLITE = SqliteDialect()
"""The one SQLite dialect (it holds no state)."""


def _overlap(layer: str, geom_col: str, bounds: BBox, p: Params) -> str:
    minx, miny, maxx, maxy = bounds
    return (
        f"SELECT id FROM {rtree(layer, geom_col)} "
        f"WHERE minx <= {p(maxx)} AND maxx >= {p(minx)} AND miny <= {p(maxy)} AND maxy >= {p(miny)}"
    )


def intersects(layer: str, geom_col: str, geom: BaseGeometry, p: Params) -> str:
    """R-tree candidates; an exact GEOS test only where the envelope is not inside a query box."""
    exact = f"planmap_intersects({quote_ident(geom_col)}, {p(shapely.to_wkb(geom))})"
    overlap = _overlap(layer, geom_col, geom.bounds, p)
    minx, miny, maxx, maxy = geom.bounds
    if not geom.equals(box(minx, miny, maxx, maxy)):
        return f'("fid" IN ({overlap}) AND {exact})'
    inside = (
        f"SELECT id FROM {rtree(layer, geom_col)} "
        f"WHERE minx >= {p(minx)} AND maxx <= {p(maxx)} AND miny >= {p(miny)} AND maxy <= {p(maxy)}"
    )
    # The outer IN drives rowid lookups from the R-tree; the exact test runs only for envelopes that
    # cross the box edge (an OR at the top level would make SQLite scan the whole table).
    return f'("fid" IN ({overlap}) AND ("fid" IN ({inside}) OR {exact}))'


def bbox_count(layer: str, geom_col: str, bbox: BBox, p: Params) -> str:
    """Return SQL counting features that intersect ``bbox``, touching rows only where the envelope crosses it.

    Envelopes inside the box are counted on the R-tree alone; only those crossing its edge are read and
    tested exactly, which keeps counts of large boxes cheap.
    """
    minx, miny, maxx, maxy = (p(v) for v in bbox)
    inside = f"minx >= {minx} AND maxx <= {maxx} AND miny >= {miny} AND maxy <= {maxy}"
    overlap = f"minx <= {maxx} AND maxx >= {minx} AND miny <= {maxy} AND maxy >= {miny}"
    tree = rtree(layer, geom_col)
    return (
        f"SELECT (SELECT count(*) FROM {tree} WHERE {inside}) + (SELECT count(*) FROM {quote_ident(layer)} "
        f'WHERE "fid" IN (SELECT id FROM {tree} WHERE {overlap} AND NOT ({inside})) '
        f"AND planmap_intersects({quote_ident(geom_col)}, {p(shapely.to_wkb(box(*bbox)))}))"
    )


def to_sql_value(value: Any, kind: str) -> Any:
    """Encode a Python value as SQLite stores a column of planmap type ``kind``.

    Raises ``InvalidFilter`` when the value cannot be one of that type (e.g. ``"abc"`` for an int).
    """
    if value is None:
        return None
    value = coerce_value(value, kind)
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind == "bool":
        return int(bool(value))
    if isinstance(value, date):
        return value.isoformat()
    return value
