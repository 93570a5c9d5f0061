"""Render a selection (a ``Filter``, as one CQL2-JSON tree) as an SQL condition, for any store's dialect.

Every dialect gets the same meaning: values are bound parameters, identifiers are quoted and checked against
the layer's queryables, text compares byte-wise (PostgreSQL text columns use ``COLLATE "C"``), LIKE is
case-sensitive, ``casei`` folds ASCII only, ``date`` properties compare by day and ``datetime`` properties
(held as ISO text) compare as text. SQLite's custom spatial functions are two-valued, so under ``not`` a
spatial test is written to stay unknown for NULL geometries, as it is in PostGIS.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidFilter
from geo.storage.sql.dialect import Dialect, Params, coerce_value, quote_ident
from geo.storage.values import Filter

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_MIRROR = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_SPATIAL = {f"s_{n}": n for n in ("intersects", "disjoint", "within", "contains", "touches", "crosses", "overlaps")}
_SPATIAL["s_equals"] = "equals"
_SWAPPED = {"within": "contains", "contains": "within"}
# Allen's interval relations as CQL2 defines them: (a bound, comparison, b bound); 0 = start, 1 = end.
_TEMPORAL: dict[str, tuple[tuple[str, str, str], ...]] = {
    "t_after": (("a0", ">", "b1"),),
    "t_before": (("a1", "<", "b0"),),
    "t_contains": (("a0", "<", "b0"), ("a1", ">", "b1")),
    "t_during": (("a0", ">", "b0"), ("a1", "<", "b1")),
    "t_equals": (("a0", "=", "b0"), ("a1", "=", "b1")),
    "t_finishedby": (("a0", "<", "b0"), ("a1", "=", "b1")),
    "t_finishes": (("a0", ">", "b0"), ("a1", "=", "b1")),
    "t_intersects": (("a0", "<=", "b1"), ("a1", ">=", "b0")),
    "t_meets": (("a1", "=", "b0"),),
    "t_metby": (("a0", "=", "b1"),),
    "t_overlappedby": (("a0", ">", "b0"), ("a0", "<", "b1"), ("a1", ">", "b1")),
    "t_overlaps": (("a0", "<", "b0"), ("a1", ">", "b0"), ("a1", "<", "b1")),
    "t_startedby": (("a0", "=", "b0"), ("a1", ">", "b1")),
    "t_starts": (("a0", "=", "b0"), ("a1", "<", "b1")),
}
_TEMPORAL_KINDS = ("date", "datetime")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def filter_to_cql(
    where: Filter | None, geom_col: str, types: Mapping[str, str] | None = None, id_column: str = "id"
) -> dict[str, Any] | None:
    """Express a Filter as one CQL2 ``and`` tree (None when it selects everything).

    With ``types``, attribute values are first coerced to their column's type (``"true"`` for a bool,
    ``"12"`` for an int), as values from a query string arrive as text.

    Examples
    --------
    >>> filter_to_cql(Filter(equals={"status": ["a", "b"]}), "geom")
    {'op': 'and', 'args': [{'op': 'in', 'args': [{'property': 'status'}, ['a', 'b']]}]}
    """
    if where is None:
        return None
    geometry = {"property": geom_col}
    terms: list[Any] = []
    if where.bbox is not None:
        terms.append({"op": "s_intersects", "args": [geometry, {"bbox": list(where.bbox)}]})
    if where.intersects is not None:
        terms.append({"op": "s_intersects", "args": [geometry, where.intersects]})
    if where.ids is not None:
        terms.append({"op": "in", "args": [{"property": id_column}, [_plain(v) for v in where.ids]]})
    for column, value in where.equals.items():
        prop = {"property": column}
        kind = (types or {}).get(column)
        if isinstance(value, list | tuple | set | frozenset):
            terms.append({"op": "in", "args": [prop, [_value(v, kind) for v in value]]})
        elif value is None:
            terms.append({"op": "isNull", "args": [prop]})
        else:
            terms.append({"op": "=", "args": [prop, _value(value, kind)]})
    if where.cql is not None:
        terms.append(dict(where.cql))
    return {"op": "and", "args": terms} if terms else None


def render_where(
    where: Filter | Mapping[str, Any] | None,
    types: dict[str, str],
    *,
    dialect: Dialect,
    params: Params,
    layer: str,
    geom_col: str = "geom",
) -> str:
    """Render a selection as an SQL condition, binding its values into ``params``; ``""`` selects all.

    Parameters
    ----------
    where : a Filter, or a CQL2-JSON predicate as ``cql2.parse_text(text).to_json()`` returns it.
    types : the layer's queryable properties and their planmap types (str, int, float, bool, date, datetime, json).
    dialect, params : the database's SQL forms, and the statement's bound parameters.
    layer, geom_col : the feature table and its geometry column (``geometry`` is accepted as its name too).

    Raises
    ------
    InvalidFilter
        For an unknown property (naming it and listing the queryables), an unsupported operator, or a
        literal that does not fit the property's type.

    Examples
    --------
    >>> from geo.storage.gpkg.dialect import SQLITE
    >>> p = SQLITE.params()
    >>> render_where({"op": "=", "args": [{"property": "name"}, "x"]}, {"name": "str"}, dialect=SQLITE,
    ...              params=p, layer="t")
    '"name" = :p0'
    >>> p.values
    {'p0': 'x'}
    """
    expr = filter_to_cql(where, geom_col, types) if isinstance(where, Filter) or where is None else where
    if expr is None:
        return ""
    return _Translator(types, geom_col, layer, dialect, params).predicate(expr, negated=False)


def _value(value: Any, kind: str | None) -> Any:
    """Coerce an attribute value to its column's type (unknown columns are reported by the renderer)."""
    return _plain(value) if kind is None else coerce_value(value, kind)


def _plain(value: Any) -> Any:
    """Turn numpy scalars (which drivers cannot bind) into Python ones."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str | bytes) else value


@dataclass(frozen=True)
class _Term:
    """A property reference compiled to SQL, with its planmap type."""

    sql: str
    kind: str


@dataclass(frozen=True)
class _Bound:
    """One end of a temporal value: a column, a literal value, or an open end (-1 or +1)."""

    column: str | None = None
    value: Any = None
    infinite: int = 0

    def key(self) -> tuple[int, Any]:
        """Sort key for folding comparisons between literals in Python."""
        return (self.infinite, None if self.infinite else self.value)


def _pair(op: str, args: Sequence[Any], count: int) -> Sequence[Any]:
    if len(args) != count:
        raise InvalidFilter(f"CQL2 operator {op!r} takes {count} arguments, not {len(args)}")
    return args


def _geometry(value: Any) -> BaseGeometry:
    """Return a geometry literal (GeoJSON object, ``{"bbox": [...]}`` or shapely geometry) as shapely."""
    try:
        if isinstance(value, BaseGeometry):
            geom = value
        elif isinstance(value, Mapping) and "bbox" in value:
            coords = [float(v) for v in value["bbox"]]
            geom = box(*(coords if len(coords) == 4 else (coords[0], coords[1], coords[3], coords[4])))
        else:
            geom = shape(value)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise InvalidFilter(f"filter holds an invalid geometry literal {str(value)[:200]!r}") from exc
    if geom.is_empty:
        raise InvalidFilter("empty geometry literal")
    return geom


def _unwrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        for key in ("date", "timestamp"):
            if key in value:
                return value[key]
        raise InvalidFilter(f"literal {value!r} cannot be compared with a property")
    return value


def _as_day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise InvalidFilter(f"{value!r} is not an ISO date") from exc


def _as_number(value: Any, kind: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidFilter(f"{value!r} is not a number")
    try:
        number = float(value)
    except ValueError as exc:
        raise InvalidFilter(f"{value!r} is not a number") from exc
    return int(number) if kind == "int" and number.is_integer() else number


class _Translator:
    """Compile one CQL2 expression for one layer and dialect."""

    def __init__(self, types: dict[str, str], geom_col: str, layer: str, dialect: Dialect, params: Params) -> None:
        self.types, self.geom_col, self.layer, self.dialect, self.p = types, geom_col, layer, dialect, params
        self.handlers: dict[str, Callable[[str, Sequence[Any], bool], str]] = {
            **dict.fromkeys(_COMPARE, self._comparison),
            **dict.fromkeys(_SPATIAL, self._spatial),
            **dict.fromkeys([*_TEMPORAL, "t_disjoint"], self._temporal),
            "and": self._logical,
            "or": self._logical,
            "not": self._not,
            "like": self._like,
            "in": self._in,
            "between": self._between,
            "isNull": self._is_null,
        }

    def predicate(self, node: Any, negated: bool) -> str:
        """Compile a boolean expression; ``negated`` tells whether an odd number of ``not`` encloses it."""
        if isinstance(node, bool):
            return self.dialect.true if node else self.dialect.false
        if not isinstance(node, Mapping) or "op" not in node:
            raise InvalidFilter(f"not a CQL2 predicate: {node!r}")
        handler = self.handlers.get(str(node["op"]))
        if handler is None:
            raise InvalidFilter(f"unsupported CQL2 operator {node['op']!r}")
        args = node.get("args", [])
        if not isinstance(args, list | tuple):
            raise InvalidFilter(f"arguments of {node['op']!r} must be a list")
        return handler(str(node["op"]), args, negated)

    def _logical(self, op: str, args: Sequence[Any], negated: bool) -> str:
        if not args:
            return self.dialect.true if op == "and" else self.dialect.false
        return "(" + f" {op.upper()} ".join(self.predicate(a, negated) for a in args) + ")"

    def _not(self, op: str, args: Sequence[Any], negated: bool) -> str:
        return f"(NOT {self.predicate(_pair(op, args, 1)[0], not negated)})"

    def _term(self, node: Any) -> _Term | None:
        """Return a property (or ``casei(property)``) as a term, or None when ``node`` is a literal."""
        if not isinstance(node, Mapping):
            return None
        if "property" in node:
            name = node["property"]
            if name not in self.types:
                raise InvalidFilter(f"unknown property {name!r}; queryable properties are {sorted(self.types)}")
            return _Term(quote_ident(name), self.types[name])
        if node.get("op") == "casei":
            inner = self._term(_pair("casei", node.get("args", []), 1)[0])
            if inner is None:
                return None
            if inner.kind != "str":
                raise InvalidFilter("casei needs a text property")
            return _Term(self.dialect.casei(inner.sql), "str")
        if "op" in node:
            raise InvalidFilter(f"unsupported CQL2 operator {node['op']!r}")
        return None

    def _literal(self, node: Any, kind: str) -> Any:
        """Return a literal as bound for a property of type ``kind`` (``casei`` literals lower-cased)."""
        if isinstance(node, Mapping) and node.get("op") == "casei":
            value = self._literal(_pair("casei", node.get("args", []), 1)[0], kind)
            return value.translate(_ASCII_LOWER) if isinstance(value, str) else value
        value = _unwrap(node)
        if kind == "str":
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise InvalidFilter(f"{value!r} is not text")
            return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        if kind in ("int", "float"):
            return _as_number(value, kind)
        if kind == "bool":
            if not isinstance(value, bool):
                raise InvalidFilter(f"{value!r} is not a boolean")
            return self.dialect.literal(value, kind)
        if kind == "date":
            return self.dialect.literal(_as_day(value), kind)
        if kind == "datetime" and isinstance(value, str | date):
            return value if isinstance(value, str) else value.isoformat()
        raise InvalidFilter(f"cannot compare a {kind} property with {value!r}")

    def _operand(self, op: str, node: Any) -> _Term:
        term = self._term(node)
        if term is None:
            raise InvalidFilter(f"the first argument of {op!r} must be a property")
        return term

    def _comparison(self, op: str, args: Sequence[Any], negated: bool) -> str:
        left, right = _pair(op, args, 2)
        a, b = self._term(left), self._term(right)
        if a is None:
            a, b, right, op = b, None, left, _MIRROR[op]
        if a is None:
            raise InvalidFilter(f"comparison {op!r} needs a property")
        if b is not None:
            numeric = {a.kind, b.kind} <= {"int", "float"}
            if a.kind != b.kind and not numeric:
                raise InvalidFilter(f"cannot compare a {a.kind} property with a {b.kind} property")
            return f"{a.sql} {op} {b.sql}"
        return f"{a.sql} {op} {self.p(self._literal(right, a.kind))}"

    def _in(self, op: str, args: Sequence[Any], negated: bool) -> str:
        left, values = _pair(op, args, 2)
        term = self._operand(op, left)
        if not isinstance(values, list | tuple):
            raise InvalidFilter("the second argument of 'in' must be a list")
        if not values:
            return self.dialect.false
        return self.dialect.in_list(term.sql, term.kind, [self._literal(v, term.kind) for v in values], self.p)

    def _between(self, op: str, args: Sequence[Any], negated: bool) -> str:
        flat = [args[0], *args[1]] if len(args) == 2 and isinstance(args[1], list | tuple) else list(args)
        left, low, high = _pair(op, flat, 3)
        term = self._operand(op, left)
        low, high = self.p(self._literal(low, term.kind)), self.p(self._literal(high, term.kind))
        return f"{term.sql} BETWEEN {low} AND {high}"

    def _is_null(self, op: str, args: Sequence[Any], negated: bool) -> str:
        (node,) = _pair(op, args, 1)
        if self._is_geometry(node):
            return f"{quote_ident(self.geom_col)} IS NULL"
        return f"{self._operand(op, node).sql} IS NULL"

    def _like(self, op: str, args: Sequence[Any], negated: bool) -> str:
        left, pattern = _pair(op, args, 2)
        term = self._operand(op, left)
        if term.kind not in ("str", "date", "datetime"):
            raise InvalidFilter(f"'like' needs a text property, not a {term.kind} one")
        value = self._literal(pattern, "str")
        if (len(value) - len(value.rstrip("\\"))) % 2 == 1:
            raise InvalidFilter("a LIKE pattern must not end with a lone escape character")
        return self.dialect.like(term.sql, term.kind, value, self.p)

    def _is_geometry(self, node: Any) -> bool:
        return isinstance(node, Mapping) and node.get("property") in (self.geom_col, "geometry")

    def _spatial(self, op: str, args: Sequence[Any], negated: bool) -> str:
        first, second = _pair(op, args, 2)
        name = _SPATIAL[op]
        if self._is_geometry(first) and not self._is_geometry(second):
            literal = second
        elif self._is_geometry(second) and not self._is_geometry(first):
            literal, name = first, _SWAPPED.get(name, name)
        else:
            raise InvalidFilter(f"{op!r} needs the geometry property {self.geom_col!r} and a geometry literal")
        geom = _geometry(literal)
        return self.dialect.spatial(self.layer, self.geom_col, name, geom, negated, self.p)

    def _temporal(self, op: str, args: Sequence[Any], negated: bool) -> str:
        first, second = _pair(op, args, 2)
        kinds = {t.kind for t in self._temporal_terms(first) + self._temporal_terms(second)}
        if len(kinds) != 1 or not kinds <= set(_TEMPORAL_KINDS):
            raise InvalidFilter(f"{op!r} needs date or datetime properties of one type, found {sorted(kinds)}")
        kind = kinds.pop()
        bounds = {f"a{i}": b for i, b in enumerate(self._interval(first, kind))}
        bounds.update({f"b{i}": b for i, b in enumerate(self._interval(second, kind))})
        if op == "t_disjoint":
            parts = [self._compare(bounds["a0"], ">", bounds["b1"]), self._compare(bounds["a1"], "<", bounds["b0"])]
            joiner = " OR "
        else:
            parts = [self._compare(bounds[x], cmp, bounds[y]) for x, cmp, y in _TEMPORAL[op]]
            joiner = " AND "
        return "(" + joiner.join(parts) + ")"

    def _temporal_terms(self, node: Any) -> list[_Term]:
        if isinstance(node, Mapping) and "interval" in node:
            return [t for b in node["interval"] for t in self._temporal_terms(b)]
        term = self._term(node)
        return [] if term is None else [term]

    def _interval(self, node: Any, kind: str) -> tuple[_Bound, _Bound]:
        """Return (start, end) of a property, an instant literal or an ``{"interval": [a, b]}``."""
        if isinstance(node, Mapping) and "interval" in node:
            low, high = _pair("interval", node["interval"], 2)
            return self._bound(low, kind, -1), self._bound(high, kind, 1)
        if kind == "datetime" and isinstance(node, Mapping) and "date" in node:
            day = _as_day(node["date"]).isoformat()
            return _Bound(value=day), _Bound(value=day + "T24")  # the whole day, as ISO text sorts
        bound = self._bound(node, kind, 0)
        return bound, bound

    def _bound(self, node: Any, kind: str, side: int) -> _Bound:
        if node == ".." and side:
            return _Bound(infinite=side)
        term = self._term(node)
        return _Bound(column=term.sql) if term is not None else _Bound(value=self._literal(node, kind))

    def _compare(self, x: _Bound, op: str, y: _Bound) -> str:
        """Compare two bounds; comparisons involving open ends or only literals are folded in Python."""
        if x.column is None and y.column is None:
            return self.dialect.true if _COMPARE[op](x.key(), y.key()) else self.dialect.false
        if x.infinite or y.infinite:
            column = x.column or y.column
            finite = (0, 0)  # any finite value sorts between the open ends
            holds = _COMPARE[op](finite if x.column else x.key(), finite if y.column else y.key())
            # col = col is NULL for a NULL column: the folded test stays three-valued.
            return f"({column} = {column})" if holds else f"({column} <> {column})"
        left = x.column or self.p(x.value)
        right = y.column or self.p(y.value)
        return f"{left} {op} {right}"
