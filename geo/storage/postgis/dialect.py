"""PostGIS's SQL dialect: psycopg ``%(p)s`` parameters, GiST-indexed predicates, byte-order text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from geo.storage.sql.dialect import Dialect, Params, check_column, quote_ident
from geo.storage.values import SortKey


class PostgisDialect(Dialect):
    """PostgreSQL with PostGIS; text columns are ``COLLATE "C"`` so they compare as SQLite's do."""

    mark = "%({})s"

    def casei(self, sql: str) -> str:
        """``lower`` under the C collation folds ASCII only, as CQL2's ``casei`` asks."""
        return f'lower(({sql}) COLLATE "C")'

    def literal(self, value: Any, kind: str) -> Any:
        """psycopg binds bools and dates as they are."""
        return value

    def in_list(self, term: str, kind: str, values: Sequence[Any], p: Params) -> str:
        """One array parameter for text-like columns, so long id lists stay one bind."""
        if kind in ("str", "date", "datetime", "bool"):
            return f"{term} = ANY({p(list(values))})"
        return super().in_list(term, kind, values, p)

    def like(self, term: str, kind: str, pattern: str, p: Params) -> str:
        """PostgreSQL's LIKE is case-sensitive already; dates are compared as their ISO text."""
        column = f"({term})::text" if kind == "date" else term
        return f"{column} LIKE {p(pattern)}"

    def spatial(self, layer: str, geom_col: str, name: str, geom: BaseGeometry, negated: bool, p: Params) -> str:
        """PostGIS predicates are three-valued already: a NULL geometry stays unknown under NOT."""
        column, literal = quote_ident(geom_col), f"ST_GeomFromWKB({p(shapely.to_wkb(geom))}, 4326)"
        if name == "intersects":
            return f"({column} && {literal} AND ST_Intersects({column}, {literal}))"
        return f"ST_{name.capitalize()}({column}, {literal})"

    def order_by(self, sortby: Sequence[SortKey], types: dict[str, str]) -> str:
        """Order with SQLite's NULL placement (first ascending); ties broken by id.

        Ids are never NULL, so ``id`` is ordered plainly: the unique index then serves the order (keyset pages).
        """
        terms = [
            f"{check_column(k.column, types)} {'DESC' if k.descending else 'ASC'}"
            if k.column == "id"
            else f"{check_column(k.column, types)} {'DESC NULLS LAST' if k.descending else 'ASC NULLS FIRST'}"
            for k in sortby
        ]
        tail = [] if any(k.column == "id" for k in sortby) else ['"id" ASC']
        return " ORDER BY " + ", ".join([*terms, *tail])


POSTGIS = PostgisDialect()
"""The one PostGIS dialect (it holds no state)."""
