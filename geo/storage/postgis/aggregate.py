"""Grouped counts and sums in one PostgreSQL GROUP BY (the rule of ``geo.storage.generic.aggregate_frame``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from geo.storage.generic import normalise_aggregate
from geo.storage.sql import Params, quote_ident
from geo.storage.values import Aggregate


def _sql_number(column: str, clip: tuple[float, float] | None, kind: str) -> str:
    expr = quote_ident(column) if kind in ("int", "float") else "NULL::double precision"
    if clip is not None:
        expr = f"least(greatest({expr}, {float(clip[0])!r}), {float(clip[1])!r})"
    return f"coalesce({expr}, 0)::double precision"


def aggregate_sql(table: str, spec: Aggregate, types: dict[str, str], condition: str, p: Params) -> str:
    """Return a GROUP BY query for ``spec`` over ``table`` filtered by ``condition`` ('' for all rows)."""
    for column in spec.columns():
        if column not in types:
            raise ValueError(f"unknown column {column!r}")
    groups = [quote_ident(c) for c in spec.by]
    if spec.before is not None:
        column, bound = spec.before
        groups.append(f"coalesce({quote_ident(column)}::text < {p(str(bound))}, false)")
    select = [f"{g} AS {quote_ident(n)}" for g, n in zip(groups, spec.group_columns(), strict=True)]
    select.append("count(*) AS count")
    for name, cols in spec.sums.items():
        product = " * ".join(_sql_number(c, spec.clip.get(c), types[c]) for c in cols) or "1.0"
        select.append(f"coalesce(sum({product}), 0) AS {quote_ident(name)}")
    group_by = f" GROUP BY {', '.join(str(i + 1) for i in range(len(groups)))}" if groups else ""
    where = f" WHERE {condition}" if condition else ""
    return f"SELECT {', '.join(select)} FROM {table}{where}{group_by}"


def frame_from_aggregate_rows(rows: list[tuple[Any, ...]], spec: Aggregate) -> pd.DataFrame:
    """Build the result frame from the rows of :func:`aggregate_sql` (normalised like the pandas one)."""
    frame = pd.DataFrame(rows, columns=[*spec.group_columns(), "count", *spec.sums])
    return normalise_aggregate(frame, spec) if spec.group_columns() else frame
