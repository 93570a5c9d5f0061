"""Turning a user's selection (bbox, county, status, attributes, CQL2 text, as_of) into a store Filter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import cql2

from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidFilter
from geo.storage.base import FeatureStore, Filter
from geo.types import BBox
from layers.errors import UnknownCounty
from layers.models import Layer
from layers.plan_model import COUNTY_CODES
from layers.plan_scope import PLAN_YEARS, plan_year_cql
from layers.progress import status_as_of

GEOMETRY_PROPERTY = "geometry"
CQL_MAX_DEPTH = 20
"""Deepest nesting of brackets and of operators a CQL2 filter may have."""
CQL_MAX_NODES = 1000
"""Most terms (operators, properties, literals, coordinates) a parsed CQL2 filter may have."""
_STRINGS = re.compile(r"'(?:[^']|'')*'")
_TOKENS = re.compile(r"'(?:[^']|'')*'|\w+|[^\s\w]")


@dataclass(frozen=True)
class Selection:
    """What a request selects from one layer; ``to_filter`` resolves it against a store.

    ``attributes`` holds equality conditions by queryable name (a list means IN); ``status`` and
    ``county`` are the common ones. ``cql`` is CQL2 text. With ``as_of``, ``status`` is matched against
    each feature's status on that day (history replay) instead of its current status. ``plan_year``
    keeps the projects of that plan year (their ``plan_years`` lists it; carry-overs belong to two).
    """

    bbox: BBox | None = None
    intersects: BaseGeometry | None = None
    county: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    cql: str | None = None
    as_of: date | None = None
    ids: tuple[str, ...] | None = None
    plan_year: int | None = None


def queryables(layer: Layer) -> dict[str, str]:
    """Return queryable property name -> planmap type (plus ``geometry``)."""
    props: dict[str, str] = {f.name: f.type for f in layer.fields if f.queryable}
    props[GEOMETRY_PROPERTY] = "geometry"
    return props


def parse_cql(text: str, layer: Layer) -> dict[str, Any]:
    """Parse CQL2 text into CQL2-JSON with the ``cql2`` package and check every property is queryable.

    Raises
    ------
    InvalidFilter
        For malformed CQL2, unknown properties, or a filter nested deeper than ``CQL_MAX_DEPTH`` or with
        more than ``CQL_MAX_NODES`` terms.
    """
    _check_text_size(text)
    try:
        expr = cql2.parse_text(text)
    except Exception as exc:  # cql2 raises ParseError and ValueError subclasses from Rust
        raise InvalidFilter(f"invalid CQL2 filter: {exc}") from exc
    cql: dict[str, Any] = expr.to_json()
    _check_tree_size(cql)
    allowed = queryables(layer)
    unknown = sorted(_properties(cql) - set(allowed))
    if unknown:
        raise InvalidFilter(f"unknown properties {unknown} in filter; queryables are {sorted(allowed)}")
    return cql


def _check_text_size(text: str) -> None:
    """Reject deeply nested or very long filters before the parser sees them.

    The ``cql2`` parser is recursive native code: a few thousand nested brackets or prefix operators
    overflow its stack and end the process, so the text is measured here first.
    """
    depth = deepest = 0
    for char in _STRINGS.sub("''", text):
        depth += (char in "([") - (char in ")]")
        deepest = max(deepest, depth)
    if deepest > CQL_MAX_DEPTH:
        raise InvalidFilter(f"filter nests brackets {deepest} deep; at most {CQL_MAX_DEPTH} levels are allowed")
    tokens = len(_TOKENS.findall(text))
    if tokens > 2 * CQL_MAX_NODES:
        raise InvalidFilter(f"filter has {tokens} tokens; at most {2 * CQL_MAX_NODES} are allowed")


def _check_tree_size(cql: Any) -> None:
    """Reject a parsed filter deeper than ``CQL_MAX_DEPTH`` operators or larger than ``CQL_MAX_NODES`` terms."""
    nodes, stack = 0, [(cql, 0)]
    while stack:
        node, depth = stack.pop()
        nodes += not isinstance(node, list)
        if depth > CQL_MAX_DEPTH or nodes > CQL_MAX_NODES:
            what = f"more than {CQL_MAX_NODES} terms" if nodes > CQL_MAX_NODES else f"over {CQL_MAX_DEPTH} levels"
            raise InvalidFilter(f"filter is too complex: {what}; simplify it or split the request")
        if isinstance(node, dict) and "args" in node:  # an operator; property and geometry literals are leaves
            stack.append((node["args"], depth + 1))
        elif isinstance(node, list):
            stack.extend((v, depth) for v in node)


def _properties(node: Any) -> set[str]:
    if isinstance(node, dict):
        if "property" in node and len(node) == 1:
            return {str(node["property"])}
        return set().union(*(_properties(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_properties(v) for v in node)) if node else set()
    return set()


def _check_attributes(layer: Layer, attributes: Mapping[str, Any]) -> None:
    allowed = queryables(layer)
    for name in attributes:
        if name not in allowed or name == GEOMETRY_PROPERTY:
            raise InvalidFilter(f"unknown property {name!r}; queryables are {sorted(allowed)}")


def _and(cql: dict[str, Any] | None, more: dict[str, Any]) -> dict[str, Any]:
    return more if cql is None else {"op": "and", "args": [cql, more]}


def to_filter(selection: Selection, layer: Layer, store: FeatureStore) -> Filter:
    """Resolve a selection into a store ``Filter`` for ``layer``.

    Raises ``UnknownCounty`` for a county code outside Xiangtan and ``InvalidFilter`` for unknown
    properties or malformed CQL2.
    """
    bad = [c for c in selection.county if c not in COUNTY_CODES]
    if bad:
        raise UnknownCounty(f"unknown county code(s) {bad}; Xiangtan's are {list(COUNTY_CODES)}")
    _check_attributes(layer, selection.attributes)
    equals: dict[str, Any] = dict(selection.attributes)
    if selection.county and "county" in layer.field_names:
        equals["county"] = list(selection.county)
    elif selection.county:
        equals["id"] = list(selection.county)  # the counties layer is keyed by adcode
    ids = list(selection.ids) if selection.ids is not None else None
    if selection.status and selection.as_of is None:
        equals["status"] = list(selection.status)
    elif selection.status and selection.as_of is not None:
        frame = store.read(layer.id, columns=["id"])
        status = status_as_of(store, layer, frame["id"], selection.as_of)
        matching = frame.loc[status.isin(selection.status).to_numpy(), "id"].tolist()
        ids = matching if ids is None else [i for i in ids if i in set(matching)]
    cql = parse_cql(selection.cql, layer) if selection.cql else None
    if selection.plan_year is not None and PLAN_YEARS in layer.field_names:
        cql = _and(cql, plan_year_cql(selection.plan_year))
    return Filter(bbox=selection.bbox, intersects=selection.intersects, equals=equals, cql=cql, ids=ids)
