"""Type-checking a whole column of a file at once: the same results as :func:`coerce_value` cell by cell.

Files with a million rows make a Python call per cell the slowest step of an import, so the common
cases are vectorised: numeric columns for number fields, text columns for text fields (blank, NUL and
lone-surrogate checks and the enumeration on whole arrays) and value maps through ``Series.map``. Every
other cell goes through :func:`coerce_value` once per distinct value (files repeat their dates, years
and statuses), which keeps the exact messages of the cell-by-cell check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from layers.import_fields import ValueProblem, coerce_value
from layers.import_mapping import FieldRule, translate
from layers.models import FieldSpec

Problems = list[tuple[int, str]]
_BAD_TEXT = "[\x00\ud800-\udfff]"
"""NUL or a lone surrogate: such cells take the cell-by-cell path, which names the problem."""


def _numeric(values: pd.Series, spec: FieldSpec, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` for finite numbers (whole ones for int fields); return the rows still to check."""
    f = values.to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(f)
    if spec.type == "int":
        ok &= (f == np.floor(f)) & (np.abs(f) < 2**53)
        out[ok] = f[ok].astype(np.int64).tolist()
    else:
        out[ok] = f[ok].tolist()
    return ~ok & ~np.isnan(f)


def _text(values: pd.Series, spec: FieldSpec, out: np.ndarray, todo: np.ndarray) -> np.ndarray:
    """Fill ``out`` for plain text cells of a text field; return the rows still to check."""
    present = values.notna().to_numpy()
    text = values.astype(object).where(present, "")  # object: arrow strings refuse lone surrogates
    stripped = text.str.strip()
    blank = (stripped == "").to_numpy()
    bad = text.str.contains(_BAD_TEXT, regex=True).to_numpy()
    ok = todo & present & ~blank & ~bad
    if spec.values is not None:
        ok &= stripped.isin(spec.values).to_numpy()
    # keep the cell's own string where stripping changes nothing: a copy per cell would double the memory
    kept = np.where((stripped == text).to_numpy(), text.to_numpy(dtype=object), stripped.to_numpy(dtype=object))
    out[ok] = kept[ok]
    return todo & present & ~blank & ~ok


def _mapped(values: pd.Series, rule: FieldRule, out: np.ndarray, todo: np.ndarray) -> np.ndarray:
    """Fill ``out`` for text cells the rule's value map names; return the rows still to check."""
    cells = values.to_numpy(dtype=object)
    is_text = np.frompyfunc(lambda v: isinstance(v, str), 1, 1)(cells).astype(bool)
    text = values.astype(object).where(is_text, "").str.strip()
    hit = text.map(dict(rule.values))
    ok = todo & is_text & (text != "").to_numpy() & hit.notna().to_numpy()
    hit = hit.to_numpy(dtype=object)
    out[ok] = hit[ok]
    return todo & ~ok


def _cell_by_cell(
    cells: np.ndarray, rows: np.ndarray, spec: FieldSpec, aliases: Mapping[str, str] | None, rule: FieldRule | None
) -> tuple[list[Any], Problems]:
    """Check ``cells[rows]`` one distinct value at a time; return their values and problems."""
    memo: dict[Any, tuple[Any, str | None]] = {}
    values: list[Any] = []
    problems: Problems = []
    for row in rows.tolist():
        cell = cells[row]
        try:
            key: Any = (type(cell), cell)
            hash(key)
        except TypeError:
            key = None
        found = memo.get(key) if key is not None else None
        if found is None:
            try:
                given = translate(cell, rule, spec) if rule is not None else cell
                found = (coerce_value(given, spec, aliases), None)
            except ValueProblem as exc:
                found = (None, str(exc))
            if key is not None:
                memo[key] = found
        values.append(found[0])
        if found[1] is not None:
            problems.append((row, found[1]))
    return values, problems


def coerce_column(
    values: pd.Series, spec: FieldSpec, aliases: Mapping[str, str] | None = None, rule: FieldRule | None = None
) -> tuple[pd.Series, Problems]:
    """Return the column's values typed for ``spec`` (object dtype, None where missing or wrong) and problems.

    Problems are (0-based row, text) in row order; each value and text is what ``coerce_value`` (after the
    rule's ``translate``) gives for that cell.
    """
    out = np.full(len(values), None, dtype=object)
    todo = values.notna().to_numpy().copy()
    textual = values.dtype == object or pd.api.types.is_string_dtype(values.dtype)
    kind = pd.api.types.infer_dtype(values[todo], skipna=True) if values.dtype == object else values.dtype.kind
    simple = rule is None or not (rule.format or rule.unit)
    if simple and rule is not None and rule.values and textual:
        todo = _mapped(values, rule, out, todo)
    elif simple and rule is None and spec.type in ("int", "float") and spec.values is None:
        if kind in ("f", "i", "u", "floating", "integer", "mixed-integer-float"):
            todo = _numeric(values, spec, out)
    elif simple and rule is None and spec.type == "bool" and kind in ("b", "boolean"):
        out[todo] = values[todo].astype(bool).tolist()
        todo = np.zeros(len(values), dtype=bool)
    elif simple and spec.type == "str" and textual and kind in ("string", "empty", "O", "U"):
        todo = _text(values, spec, out, todo)
    rows = np.flatnonzero(todo)
    checked, problems = _cell_by_cell(values.to_numpy(dtype=object), rows, spec, aliases, rule)
    for row, value in zip(rows.tolist(), checked, strict=True):
        out[row] = value  # one by one: JSON lists must not become array dimensions
    return pd.Series(out, index=values.index, dtype=object), problems


def recoerce(values: pd.Series, spec: FieldSpec) -> pd.Series:
    """Return already typed values checked again for ``spec``; raise ``ValueProblem`` for the first bad one."""
    checked, problems = coerce_column(values, spec)
    if problems:
        raise ValueProblem(problems[0][1])
    return checked
