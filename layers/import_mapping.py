"""The import mapping file: which column feeds each field, and how its values are translated.

An entry is either the plain form ``"source column": "field"`` (``null`` ignores the column) or a rule
keyed by the field: ``"status": {"column": "STATE", "values": {"under_construction": "in_progress"}}``,
``{"column": "完工日期", "format": "%Y/%m/%d"}``, ``{"column": "AREA_HA", "unit": "ha"}`` or a constant
``{"value": "planned"}`` for every row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from layers.errors import InvalidMapping
from layers.import_fields import ValueProblem, coerce_value, enum_aliases, is_missing
from layers.models import FieldSpec, Layer

AREA_UNITS: dict[str, Fraction] = {"m2": Fraction(1), "ha": Fraction(10000), "mu": Fraction(10000, 15)}
"""Square metres per unit: 1 ha = 15 mu, 1 mu = 10000/15 m²."""
_FIELD_UNITS = {"亩": "mu", "mu": "mu", "公顷": "ha", "ha": "ha", "平方米": "m2", "m²": "m2", "m2": "m2"}
_RULE_KEYS = frozenset({"column", "values", "format", "unit", "value"})


@dataclass(frozen=True)
class FieldRule:
    """How one field is filled: from ``column`` (values translated, dates parsed, area converted) or a constant."""

    name: str
    column: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    format: str | None = None
    unit: str | None = None
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        """Return the rule as given, for the report."""
        keys = ("column", "values", "format", "unit", "value")
        return {k: getattr(self, k) for k in keys if getattr(self, k) not in (None, {})}


@dataclass(frozen=True)
class ImportMapping:
    """A checked mapping file: plain ``column -> field`` entries and per-field rules."""

    columns: Mapping[str, str | None] = field(default_factory=dict)
    rules: Mapping[str, FieldRule] = field(default_factory=dict)


def _fail(key: str, reason: str) -> InvalidMapping:
    return InvalidMapping(f"mapping entry {key!r}: {reason}")


def _check_format(key: str, fmt: Any, spec: FieldSpec) -> str:
    if spec.type not in ("date", "datetime"):
        raise _fail(key, f"a format applies to date fields; {spec.name} is {spec.type}")
    if not isinstance(fmt, str) or "%" not in fmt:
        raise _fail(key, f"format must be a strptime pattern such as '%Y/%m/%d', not {fmt!r}")
    try:
        sample = datetime(2025, 6, 30, 8, 30).strftime(fmt)
        datetime.strptime(sample, fmt)
    except ValueError as exc:
        raise _fail(key, f"format {fmt!r} is not a valid pattern: {exc}") from None
    return fmt


def _check_unit(key: str, unit: Any, spec: FieldSpec) -> str:
    if spec.type != "float" or _FIELD_UNITS.get(spec.unit or "") is None:
        raise _fail(key, f"a unit applies to area fields; {spec.name} has unit {spec.unit or 'none'}")
    if unit not in AREA_UNITS:
        raise _fail(key, f"unit must be one of {', '.join(AREA_UNITS)}, not {unit!r}")
    return str(unit)


def _check_values(key: str, values: Any, spec: FieldSpec, layer: Layer) -> dict[str, Any]:
    if not isinstance(values, dict) or not values:
        raise _fail(key, 'values must be a non-empty object {"source value": "field value"}')
    checked = {}
    for source, target in values.items():
        try:
            checked[str(source).strip()] = coerce_value(target, spec, enum_aliases(layer).get(spec.name))
        except ValueProblem as exc:
            raise _fail(key, f"value {source!r} maps to {target!r}: {exc}") from None
    return checked


def _rule(key: str, entry: dict[str, Any], layer: Layer) -> FieldRule:
    if key not in layer.field_names:
        raise _fail(key, f"a rule is keyed by a field of {layer.id}; {key!r} is not one")
    unknown = sorted(set(entry) - _RULE_KEYS)
    if unknown:
        raise _fail(key, f"unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(_RULE_KEYS))}")
    spec = layer.field(key)
    if ("column" in entry) == ("value" in entry):
        raise _fail(key, "give either a source column or a constant value, not both nor neither")
    if "value" in entry:
        if set(entry) != {"value"}:
            raise _fail(key, "a constant value takes no column, values, format or unit")
        try:
            constant = coerce_value(entry["value"], spec, enum_aliases(layer).get(key))
        except ValueProblem as exc:
            raise _fail(key, f"constant value: {exc}") from None
        if constant is None:
            raise _fail(key, "the constant value is empty")
        return FieldRule(key, value=constant)
    column = entry["column"]
    if not isinstance(column, str) or not column:
        raise _fail(key, f"column must be a column name, not {column!r}")
    return FieldRule(
        key,
        column=column,
        values=_check_values(key, entry["values"], spec, layer) if "values" in entry else {},
        format=_check_format(key, entry["format"], spec) if "format" in entry else None,
        unit=_check_unit(key, entry["unit"], spec) if "unit" in entry else None,
    )


def parse_mapping(raw: Any, layer: Layer) -> ImportMapping:
    """Return the checked mapping; raise ``InvalidMapping`` naming the first malformed entry.

    Columns the file lacks are not checked here (the file is not read yet): the import reports them.

    Parameters
    ----------
    raw : dict, ImportMapping or None
        The mapping file's JSON object (or an already checked mapping).
    layer : Layer
        The layer imported into; rules must name its fields.

    Examples
    --------
    >>> from layers.registry import load_catalogue
    >>> farmland = load_catalogue().get("farmland")
    >>> parse_mapping({"AREA_HA": "area_mu", "status": {"value": "planned"}}, farmland).rules["status"].value
    'planned'
    """
    if raw is None:
        return ImportMapping()
    if isinstance(raw, ImportMapping):
        return raw
    if not isinstance(raw, dict):
        raise InvalidMapping('the mapping must be a JSON object {"source column": "field"} or {"field": {...}}')
    plain: dict[str, str | None] = {}
    rules: dict[str, FieldRule] = {}
    for key, entry in raw.items():
        if isinstance(entry, dict):
            rules[str(key)] = _rule(str(key), entry, layer)
        elif entry is None or isinstance(entry, str):
            plain[str(key)] = entry or None
        else:
            raise _fail(str(key), 'expected a field name, null or a rule object {"column": ...}')
    taken = [r.column for r in rules.values() if r.column in plain]
    if taken:
        raise _fail(str(taken[0]), "the column is mapped both plainly and by a rule")
    return ImportMapping(plain, rules)


def translate(value: Any, rule: FieldRule, spec: FieldSpec) -> Any:
    """Return a cell's value after the rule's value mapping, date format and unit conversion.

    Values the rule does not translate are returned for the usual type check; a value that does not
    match the rule's date format raises ``ValueProblem``.
    """
    if is_missing(value):
        return None
    if rule.values:
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
        if text in rule.values:
            return rule.values[text]
    if rule.format and not isinstance(value, date):
        try:
            parsed = datetime.strptime(str(value).strip(), rule.format)
        except ValueError:
            raise ValueProblem(f"expected a date in the format {rule.format}, got {value!r}") from None
        return parsed.date() if spec.type == "date" else parsed.isoformat()
    if rule.unit:
        number = coerce_value(value, spec)
        factor = AREA_UNITS[rule.unit] / AREA_UNITS[_FIELD_UNITS[spec.unit or ""]]
        return round(number * float(factor), 6)
    return value
