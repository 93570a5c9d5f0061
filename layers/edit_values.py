"""Checking the properties a planner sends for a project: known fields, typed values, sane ranges.

Values are typed by the catalogue (:class:`layers.models.FieldSpec`) with the importer's converters, so a
status may be given as ``在建`` and a county as ``湘潭县``. Numbers are quantities and cannot be negative;
``progress_pct`` lies in 0..100, years in 1900..2100, ``plan_years`` is a comma-separated list of years.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from layers.errors import InvalidFeatureEdit
from layers.import_fields import ValueProblem, coerce_value, enum_aliases
from layers.models import Layer
from layers.text import text_problem

DERIVED = frozenset({"county_name", "area_mu", "length_km"})
"""Fields computed from the geometry and the county on every edit: a given value is replaced."""
MAX_TEXT = 500
"""Longest text value accepted (names, owners, notes in attributes)."""
_YEAR_FIELDS = frozenset({"project_year", "build_year"})
_YEARS = re.compile(r"^\s*\d{4}(\s*,\s*\d{4})*\s*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_id(value: Any) -> str:
    """Return a feature id given by a client: 1-64 ASCII letters, digits, ``_``, ``.`` or ``-``.

    Examples
    --------
    >>> check_id("farmland-0301")
    'farmland-0301'
    """
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidFeatureEdit(f"id {value!r} is not valid: use 1-64 letters, digits, '_', '.' or '-'")
    return value


def _plan_years(value: str) -> str:
    if not _YEARS.match(value):
        raise ValueProblem(f"expected years separated by commas, e.g. 2025,2026, got {value!r}")
    years = sorted({int(y) for y in value.split(",")})
    if years[0] < 2000 or years[-1] > 2100:
        raise ValueProblem(f"years must lie in 2000..2100, got {value!r}")
    return ",".join(str(y) for y in years)


def _range(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if name == "progress_pct" and not 0 <= value <= 100:
        raise ValueProblem(f"must be between 0 and 100, got {value:g}")
    if name in _YEAR_FIELDS and not 1900 <= value <= 2100:
        raise ValueProblem(f"must be a year between 1900 and 2100, got {value:g}")
    if value < 0:
        raise ValueProblem(f"cannot be negative, got {value:g}")


def _investment_plan(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValueProblem('expected an object of plan year -> amount, e.g. {"2025": 1200}')
    for year, amount in value.items():
        if not re.fullmatch(r"\d{4}", str(year)):
            raise ValueProblem(f"key {year!r} is not a year")
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            raise ValueProblem(f"the amount for {year} must be a non-negative number, got {amount!r}")


def _status(layer: Layer, value: Any) -> str:
    for spec in layer.statuses:
        if value in (spec.value, spec.label_zh, spec.label_en):
            return spec.value
    allowed = ", ".join(s.value for s in layer.statuses)
    raise ValueProblem(f"{value!r} is not a status of {layer.id!r}; use one of {allowed}")


def check_value(layer: Layer, name: str, value: Any) -> Any:
    """Return one property's value typed for the layer (None for null); raise ``ValueProblem`` otherwise."""
    spec = layer.field(name)
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            raise ValueProblem(f"the text {problem}")
        if len(value) > MAX_TEXT:
            raise ValueProblem(f"is {len(value)} characters long; at most {MAX_TEXT} are accepted")
    if name == "status" and value is not None:
        return _status(layer, value)
    out = coerce_value(value, spec, enum_aliases(layer).get(name))
    if out is None:
        return None
    if name == "plan_years":
        return _plan_years(str(out))
    if name == "investment_plan_wan":
        _investment_plan(out)
    if spec.type == "json" and not isinstance(out, dict | list):
        raise ValueProblem("expected a JSON object or array")
    _range(name, out)
    return out


def check_properties(layer: Layer, properties: Mapping[str, Any]) -> dict[str, Any]:
    """Return the editable properties typed for the layer (derived fields dropped).

    Raises
    ------
    InvalidFeatureEdit
        Naming the first unknown property, or the property whose value is invalid and why.

    Examples
    --------
    >>> from layers.registry import load_catalogue
    >>> check_properties(load_catalogue().get("farmland"), {"status": "在建", "ponds": 3, "area_mu": 1})
    {'status': 'in_progress', 'ponds': 3}
    """
    known = set(layer.field_names)
    unknown = sorted(str(k) for k in properties if k not in known)
    if unknown:
        raise InvalidFeatureEdit(f"unknown properties {unknown} for {layer.id!r}; its fields are {sorted(known)}")
    out: dict[str, Any] = {}
    for name, value in properties.items():
        if name in DERIVED:
            continue
        try:
            out[name] = check_value(layer, name, value)
        except ValueProblem as exc:
            raise InvalidFeatureEdit(f"property {name!r}: {exc}") from None
    if "id" in out and out["id"] is not None:
        out["id"] = check_id(out["id"])
    return out
