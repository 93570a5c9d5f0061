"""Which projects a plan year holds: those whose ``plan_years`` lists it (a carry-over, 结转, lists two)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from geo.storage.base import Filter
from layers.models import Layer

PLAN_YEARS = "plan_years"
"""The project attribute listing its plan years, comma-separated, e.g. ``2025,2026``."""


def plan_year_cql(year: int) -> dict[str, Any]:
    """Return CQL2-JSON for "the project belongs to plan ``year``".

    ``plan_years`` holds four-digit years separated by commas, so the year's digits match only that year.
    """
    return {"op": "like", "args": [{"property": PLAN_YEARS}, f"%{int(year):04d}%"]}


def plan_filter(layer: Layer, year: int | None) -> Filter | None:
    """Return the filter keeping the layer's projects of plan ``year`` (None: no plan, or no plan years)."""
    if year is None or PLAN_YEARS not in layer.field_names:
        return None
    return Filter(cql=plan_year_cql(year))


def whole_plan(where: Filter | None) -> bool:
    """Return whether ``where`` selects nothing narrower than a plan year (the city's projects of the plan)."""
    if where is None or where == Filter():
        return True
    cql = where.cql or {}
    return Filter(cql=where.cql) == where and cql.get("op") == "like" and _is_plan_like(cql)


def _is_plan_like(cql: Mapping[str, Any]) -> bool:
    args = cql.get("args") or []
    return (
        len(args) == 2
        and args[0] == {"property": PLAN_YEARS}
        and isinstance(args[1], str)
        and re.fullmatch(r"%\d{4}%", args[1]) is not None
    )
