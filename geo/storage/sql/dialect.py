"""What differs between SQL databases when a selection is rendered: placeholders, literals, predicates."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidFilter
from geo.storage.values import SortKey


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (SQLite and PostgreSQL alike); names are also checked against the schema.

    Examples
    --------
    >>> quote_ident('a"b')
    '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'


def check_column(name: str, types: dict[str, str]) -> str:
    """Return the quoted column, or raise ``InvalidFilter`` naming it and the queryable ones."""
    if name not in types:
        raise InvalidFilter(f"unknown property {name!r}; queryable properties are {sorted(types)}")
    return quote_ident(name)


_TRUE = ("true", "1", "yes", "t")
_FALSE = ("false", "0", "no", "f")


def coerce_value(value: Any, kind: str) -> Any:
    """Coerce a value (numpy scalars, and text from a query string) to a column's planmap type, or raise.

    Examples
    --------
    >>> coerce_value("yes", "bool"), coerce_value("12", "int"), coerce_value(2.0, "int")
    (True, 12, 2)
    """
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalars would otherwise be bound as raw bytes
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


class Params:
    """Bound parameters of one statement, named ``p0``, ``p1``... in the order they are added.

    Named parameters let a store add its own (a tile's box, LIMIT) to a rendered selection without
    touching the SQL text. ``mark`` formats a name as the driver expects (``:p0``, ``%(p0)s``).
    """

    def __init__(self, mark: str) -> None:
        self._mark = mark
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        """Bind ``value`` and return its placeholder."""
        name = f"p{len(self.values)}"
        self.values[name] = value
        return self._mark.format(name)

    def named(self, name: str, value: Any) -> str:
        """Bind ``value`` under a chosen name (e.g. ``limit``) and return its placeholder."""
        self.values[name] = value
        return self._mark.format(name)


class Dialect(ABC):
    """One database's SQL forms, used by :func:`geo.storage.sql.render.render_where`."""

    mark = ":{}"
    """Placeholder format of a named parameter."""
    true, false = "(1 = 1)", "(1 = 0)"

    def params(self) -> Params:
        """Return an empty parameter set using this dialect's placeholders."""
        return Params(self.mark)

    @abstractmethod
    def casei(self, sql: str) -> str:
        """Return ``sql`` (a text term) folded to lower case, ASCII only."""

    @abstractmethod
    def literal(self, value: Any, kind: str) -> Any:
        """Return a checked bool or date literal (``kind``) as the driver binds it."""

    def in_list(self, term: str, kind: str, values: Sequence[Any], p: Params) -> str:
        """Return ``term IN (...)`` for non-empty ``values``."""
        return f"{term} IN ({', '.join(p(v) for v in values)})"

    @abstractmethod
    def like(self, term: str, kind: str, pattern: str, p: Params) -> str:
        """Return a case-sensitive LIKE of a text term (CQL2's meaning)."""

    @abstractmethod
    def spatial(self, layer: str, geom_col: str, name: str, geom: BaseGeometry, negated: bool, p: Params) -> str:
        """Return ``geom_col <name> geom`` (intersects, within...; the feature is the first argument).

        ``negated`` tells whether an odd number of ``not`` encloses the test: a NULL geometry must stay
        unknown there, as in PostGIS, never turn into a match.
        """

    @abstractmethod
    def order_by(self, sortby: Sequence[SortKey], types: dict[str, str]) -> str:
        """Return `` ORDER BY ...`` (NULLs first ascending); ties broken by id so pages are stable."""
