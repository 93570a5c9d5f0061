"""Rows of a report's lists: projects with their lights (明细, 红灯) and overdue items with owners (逾期)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import pandas as pd

from layers.boundaries import county_name
from layers.deadlines import DeadlineItem
from layers.models import Layer
from layers.reports.model import DeadlineRow, ProjectRow


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 2)


def _day(value: Any) -> date | None:
    text = _text(value)
    return date.fromisoformat(text[:10]) if text else None


def _name(code: str) -> str:
    try:
        return county_name(code)
    except KeyError:
        return code


def project_rows(layer: Layer, lights: pd.DataFrame, state: pd.DataFrame) -> list[ProjectRow]:
    """Return one row per project from its light rows (``layer_rows``) and its replayed state (``with_state``)."""
    status = dict(zip(state["id"].astype(str), state["state"].astype(str), strict=True))
    return [
        ProjectRow(
            layer=layer.id,
            layer_title=layer.title_zh,
            id=str(row["id"]),
            name=_text(row.get("name")),
            county=_text(row.get("county")),
            county_name=_name(_text(row.get("county"))),
            owner=_text(row.get("owner")),
            status=status.get(str(row["id"]), ""),
            progress_pct=_number(row.get("progress_pct")),
            due=_day(row.get("due_date")),
            light=_text(row.get("light")) or None,
            lag_pts=_number(row.get("lag_pts")),
            reason=_text(row.get("reason")),
            plan_year_wan=_number(row.get("plan_year_wan")),
            done_year_wan=_number(row.get("done_year_wan")),
        )
        for row in lights.drop(columns="geometry", errors="ignore").to_dict("records")
    ]


def deadline_rows(layer: Layer, items: Iterable[DeadlineItem], owners: Mapping[str, str]) -> list[DeadlineRow]:
    """Return the overdue items as rows with their owners, most overdue first."""
    rows = [
        DeadlineRow(
            layer=layer.id,
            layer_title=layer.title_zh,
            id=item.id,
            name=item.name or "",
            county=item.county or "",
            county_name=_name(item.county or ""),
            owner=owners.get(item.id, ""),
            milestone=item.milestone or "",
            due=item.due,
            days=item.days,
            status=item.status,
            progress_pct=round(item.progress_pct, 1),
        )
        for item in items
    ]
    return sorted(rows, key=lambda r: (-r.days, r.id, r.milestone))
