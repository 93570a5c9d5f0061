"""Grouped counts and sums over a layer's current attributes, in pandas (any store) or SQL (PostGIS)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

BEFORE = "before"
"""Name of the group column ``Aggregate.before`` adds."""


@dataclass(frozen=True)
class Aggregate:
    """What to aggregate: groups, and sums of products of numeric columns.

    Attributes
    ----------
    by : the group columns (NULL is a group of its own).
    sums : output name -> the columns whose product is summed (NULL or non-numeric counts as 0).
    clip : column -> (low, high) bounds applied to its values before multiplying.
    before : (column, value): adds the boolean group column ``before`` = column < value (NULL: False).
    """

    by: tuple[str, ...] = ()
    sums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    clip: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    before: tuple[str, Any] | None = None

    def columns(self) -> list[str]:
        """Return every column the aggregate reads."""
        names = [*self.by, *(c for cols in self.sums.values() for c in cols)]
        if self.before is not None:
            names.append(self.before[0])
        return list(dict.fromkeys(names))

    def group_columns(self) -> list[str]:
        """Return the group columns of the result (``by`` then ``before`` when set)."""
        return [*self.by, *([BEFORE] if self.before is not None else [])]


def _numeric(frame: pd.DataFrame, column: str, clip: tuple[float, float] | None) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce").astype(float)
    if clip is not None:
        values = values.clip(*clip)
    return values.fillna(0.0)


def aggregate_frame(frame: pd.DataFrame, spec: Aggregate) -> pd.DataFrame:
    """Aggregate a frame in pandas: the reference rule every store follows.

    Returns
    -------
    pandas.DataFrame
        The group columns, ``count`` and one column per sum, ordered by the group columns.
    """
    work = pd.DataFrame({c: frame[c].astype(object).where(frame[c].notna(), None) for c in spec.by}, index=frame.index)
    if spec.before is not None:
        column, bound = spec.before
        work[BEFORE] = frame[column].notna() & (frame[column].astype(object).where(frame[column].notna(), "") < bound)
        work[BEFORE] = work[BEFORE].astype(bool)
    work["count"] = 1
    for name, cols in spec.sums.items():
        product = pd.Series(1.0, index=frame.index)
        for column in cols:
            product = product * _numeric(frame, column, spec.clip.get(column))
        work[name] = product
    keys = spec.group_columns()
    if not keys:
        return pd.DataFrame([{"count": len(work), **{n: float(work[n].sum()) for n in spec.sums}}])
    grouped = work.groupby(keys, dropna=False, sort=False).sum(numeric_only=False).reset_index()
    return _normalise(grouped, spec)


def _normalise(frame: pd.DataFrame, spec: Aggregate) -> pd.DataFrame:
    """Order groups, make NULL groups None and counts int, whichever store produced the frame."""
    out = frame.copy()
    for column in spec.by:
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    out["count"] = out["count"].astype(np.int64)
    for name in spec.sums:
        out[name] = out[name].astype(float)
    keys = spec.group_columns()
    order = sorted(range(len(out)), key=lambda i: tuple((v is not None, str(v)) for v in out.loc[i, keys]))
    return out.iloc[order].reset_index(drop=True)[[*keys, "count", *spec.sums]]


def _sql_number(column: str, clip: tuple[float, float] | None, quote: Any, kind: str) -> str:
    expr = quote(column) if kind in ("int", "float") else "NULL::double precision"
    if clip is not None:
        expr = f"least(greatest({expr}, {float(clip[0])!r}), {float(clip[1])!r})"
    return f"coalesce({expr}, 0)::double precision"


def aggregate_sql(
    table: str, spec: Aggregate, types: dict[str, str], quote: Any, where_sql: str
) -> tuple[str, list[Any]]:
    """Return a PostgreSQL GROUP BY query for ``spec`` over ``table`` (with a `` WHERE ...`` clause or '')."""
    for column in spec.columns():
        if column not in types:
            raise ValueError(f"unknown column {column!r}")
    groups = [quote(c) for c in spec.by]
    params: list[Any] = []
    if spec.before is not None:
        column, bound = spec.before
        groups.append(f"coalesce({quote(column)}::text < %s, false)")
        params.append(str(bound))
    select = [f"{g} AS {quote(n)}" for g, n in zip(groups, spec.group_columns(), strict=True)]
    select.append("count(*) AS count")
    for name, cols in spec.sums.items():
        product = " * ".join(_sql_number(c, spec.clip.get(c), quote, types[c]) for c in cols) or "1.0"
        select.append(f"coalesce(sum({product}), 0) AS {quote(name)}")
    group_by = f" GROUP BY {', '.join(str(i + 1) for i in range(len(groups)))}" if groups else ""
    return f"SELECT {', '.join(select)} FROM {table}{where_sql}{group_by}", params


def frame_from_aggregate_rows(rows: list[tuple[Any, ...]], spec: Aggregate) -> pd.DataFrame:
    """Build the result frame from the rows of :func:`aggregate_sql` (normalised like the pandas one)."""
    frame = pd.DataFrame(rows, columns=[*spec.group_columns(), "count", *spec.sums])
    return _normalise(frame, spec) if spec.group_columns() else frame
