"""Matching a file's columns to a layer's fields and checking each value against the field's type."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from layers.boundaries import DIVISIONS
from layers.models import FieldSpec, Layer
from layers.text import text_problem

_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$")
_COMPACT_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_TRUE = {"true", "t", "yes", "y", "1", "是", "真"}
_FALSE = {"false", "f", "no", "n", "0", "否", "假"}
_MIN_PREFIX = 2
_MIN_ASCII_PREFIX = 5


class ValueProblem(ValueError):
    """A value that does not fit its field."""


def _keys(spec: FieldSpec) -> list[str]:
    """Return the header spellings that name a field: name, aliases, and aliases with unit or name."""
    keys = [spec.name, spec.alias_en, spec.alias_zh, f"{spec.alias_zh}[{spec.name}]"]
    if spec.unit:
        keys += [f"{spec.alias_zh}({spec.unit})", f"{spec.alias_zh}（{spec.unit}）", f"{spec.alias_en} ({spec.unit})"]
    return [k.strip().lower() for k in keys]


def _auto_match(column: str, layer: Layer, taken: set[str]) -> tuple[str | None, bool]:
    """Return the field a column names (exactly, else as a unique prefix: dBASE cuts names) and whether by prefix."""
    key = column.strip().lower()
    free = [f for f in layer.fields if f.name not in taken]
    exact = [f.name for f in free if key in _keys(f)]
    if exact:
        return exact[0], False
    if len(key) < _MIN_PREFIX or (key.isascii() and len(key) < _MIN_ASCII_PREFIX):
        return None, False
    prefixed = {f.name for f in free if any(k.startswith(key) for k in _keys(f))}
    return (prefixed.pop(), True) if len(prefixed) == 1 else (None, False)


def _explicit(
    columns: list[str], layer: Layer, explicit: Mapping[str, str | None], rules: Mapping[str, str | None]
) -> tuple[dict[str, str], list[str]]:
    """Return the explicit column -> field entries and errors for those naming what does not exist."""
    mapping: dict[str, str] = {}
    errors: list[str] = []
    for column, target in explicit.items():
        if column not in columns:
            hint = (
                f"; to read field {column!r} from column {target!r} write {{{column!r}: {{'column': {target!r}}}}}"
                if target in columns and column in layer.field_names
                else ""
            )
            errors.append(f"the mapping names column {column!r}, which the file does not have{hint}")
        elif target and target not in layer.field_names:
            errors.append(f"the mapping targets {target!r}, which is not a field of {layer.id}")
        elif target:
            mapping[column] = target
    for name, source in rules.items():
        if source is not None and source not in columns:
            errors.append(f"the mapping reads field {name!r} from column {source!r}, which the file does not have")
        elif source is not None:
            mapping[source] = name
    return mapping, errors


def resolve_mapping(
    columns: list[str],
    layer: Layer,
    explicit: Mapping[str, str | None] | None,
    rules: Mapping[str, str | None] | None = None,
) -> tuple[dict[str, str], list[str], list[str], list[str]]:
    """Return (source column -> field, ignored columns, warnings, errors).

    Explicit entries win; a None or empty target ignores the column. ``rules`` maps fields to the column
    they are read from (None for a constant, which takes the field without a column). Every other column
    is matched by the field's name, English or Chinese alias (also ``alias(unit)`` as exported), or a
    unique prefix of them.
    """
    mapping, errors = _explicit(columns, layer, explicit or {}, rules or {})
    warnings: list[str] = []
    skipped = set(explicit or {}) | {c for c in (rules or {}).values() if c is not None}
    ignored = []
    for column in columns:
        if column in skipped:
            continue
        field_name, by_prefix = _auto_match(column, layer, set(mapping.values()) | set(rules or {}))
        if field_name is None:
            ignored.append(column)
            continue
        mapping[column] = field_name
        if by_prefix:
            warnings.append(f"column {column!r} taken as field {field_name!r} (a shortened name)")
    return mapping, ignored, warnings, errors


def enum_aliases(layer: Layer) -> dict[str, dict[str, str]]:
    """Return field -> {label: value} for enumerated fields given as labels (状态 在建, 区县 湘潭县)."""
    status = {s.label_zh: s.value for s in layer.statuses} | {s.label_en.lower(): s.value for s in layer.statuses}
    county = {d.name: code for code, d in DIVISIONS.items()} | {
        d.name_en.lower(): code for code, d in DIVISIONS.items()
    }
    return {"status": status, "county": county}


def is_missing(value: Any) -> bool:
    """Return True for None, NaN, NaT, pandas NA and blank text."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    if isinstance(value, list | dict | tuple | np.ndarray):
        return False
    return bool(pd.isna(value))


def _number_text(value: Any, spec: FieldSpec) -> str:
    text = str(value).strip().replace(",", "").replace("，", "")
    if spec.unit and text.endswith(spec.unit):
        text = text[: -len(spec.unit)].strip()
    return text


def _as_float(value: Any, spec: FieldSpec) -> float:
    if isinstance(value, bool):
        raise ValueProblem(f"expected a number, got {value!r}")
    try:
        number = float(value) if isinstance(value, int | float | np.number) else float(_number_text(value, spec))
    except ValueError:
        raise ValueProblem(f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueProblem(f"expected a finite number, got {value!r}")
    return number


def _as_int(value: Any, spec: FieldSpec) -> int:
    number = _as_float(value, spec)
    if not number.is_integer():
        raise ValueProblem(f"expected a whole number, got {value!r}")
    return int(number)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime | pd.Timestamp):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).date()
    text = str(value).strip()
    match = _DATE_RE.match(text) or _COMPACT_DATE_RE.match(text)
    try:
        if match:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        pass
    raise ValueProblem(f"expected a date like 2025-06-30, 2025/6/30 or 2025年6月30日, got {value!r}")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = str(value).strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueProblem(f"expected true/false (是/否), got {value!r}")


def _as_str(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _as_json(value: Any) -> Any:
    if isinstance(value, list | dict):
        return value
    try:
        return json.loads(str(value))
    except json.JSONDecodeError as exc:
        raise ValueProblem(f"expected JSON, got {str(value)[:40]!r}: {exc.msg}") from None


def _as_datetime(value: Any) -> str:
    try:
        return pd.Timestamp(value).isoformat()
    except (ValueError, TypeError):
        raise ValueProblem(f"expected a date and time, got {value!r}") from None


def coerce_value(value: Any, spec: FieldSpec, aliases: Mapping[str, str] | None = None) -> Any:
    """Return ``value`` converted to the field's type (None when missing); raise ``ValueProblem`` otherwise.

    Examples
    --------
    >>> from layers.registry import load_catalogue
    >>> spec = load_catalogue().get("farmland").field("due_date")
    >>> coerce_value("2025年6月30日", spec), coerce_value("2025/6/30", spec)
    (datetime.date(2025, 6, 30), datetime.date(2025, 6, 30))
    """
    if is_missing(value):
        return None
    problem = text_problem(value) if isinstance(value, str) else None
    if problem is not None:
        raise ValueProblem(f"the text {problem}")
    converters: dict[str, Callable[[Any], Any]] = {
        "int": lambda v: _as_int(v, spec),
        "float": lambda v: _as_float(v, spec),
        "bool": _as_bool,
    }
    converters |= {"date": _as_date, "datetime": _as_datetime, "json": _as_json, "str": _as_str}
    out: Any = converters[spec.type](value)
    if spec.values is not None and out not in spec.values:
        label = (aliases or {}).get(str(out)) or (aliases or {}).get(str(out).lower())
        if label is None:
            raise ValueProblem(f"{out!r} is not one of {', '.join(spec.values)}")
        out = label
    return out
