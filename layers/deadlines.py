"""What is overdue, late or at risk on a day: features past their due date and project milestones."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from geo.storage.base import FeatureStore
from layers.errors import InvalidProgressQuery
from layers.models import Layer
from layers.plan_scope import plan_filter
from layers.progress import done_statuses, with_state

Kind = Literal["feature", "milestone"]
_COLUMNS = ("id", "name", "county", "county_name", "status", "progress_pct", "due_date", "milestones")


class DeadlineItem(BaseModel):
    """A feature or one of its milestones that is overdue, was done late, or is at risk."""

    model_config = ConfigDict(frozen=True)

    kind: Kind = Field(description="`feature` (its due_date) or `milestone` (one entry of its milestones)")
    layer: str = Field(description="Layer id")
    id: str = Field(description="Feature id")
    name: str | None = Field(description="Feature name")
    county: str | None = Field(description="County adcode")
    milestone: str | None = Field(default=None, description="Milestone name, e.g. 建成通车")
    due: date = Field(description="Due date")
    done: date | None = Field(default=None, description="When it was done, if done by as_of")
    status: str = Field(description="The feature's status on as_of")
    progress_pct: float = Field(description="The feature's progress on as_of (0-100)")
    days: int = Field(description="Days overdue (overdue), days late (done_late) or days left (at_risk)")


class DeadlineReport(BaseModel):
    """Deadlines as of a day, in three lists, each ordered by due date."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2025-07-15",
                    "within_days": 30,
                    "threshold_pct": 80.0,
                    "overdue": [],
                    "done_late": [
                        {
                            "kind": "milestone",
                            "layer": "transport-links",
                            "id": "transport-links-001",
                            "name": "下摄司大桥",
                            "county": "430304",
                            "milestone": "建成通车",
                            "due": "2025-06-30",
                            "done": "2025-07-08",
                            "status": "completed",
                            "progress_pct": 100.0,
                            "days": 8,
                        }
                    ],
                    "at_risk": [],
                    "counts": {"overdue": 0, "done_late": 1, "at_risk": 0},
                }
            ]
        },
    )

    as_of: date = Field(description="The day assessed")
    within_days: int = Field(description="At-risk horizon: due within this many days after as_of")
    threshold_pct: float = Field(description="At risk when progress is below this percent (or status planned)")
    overdue: list[DeadlineItem] = Field(description="Past due and not done by as_of")
    done_late: list[DeadlineItem] = Field(description="Done by as_of, but after the due date")
    at_risk: list[DeadlineItem] = Field(description="Due within `within_days` and behind (progress or planned)")
    counts: dict[str, int] = Field(description="Length of each list")


def _date(value: Any) -> date | None:
    if value is None or (not isinstance(value, str | date) and pd.isna(value)) or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _first_done(history: pd.DataFrame, layer: Layer, as_of: date) -> dict[str, date]:
    """Return each feature's earliest report with a done status dated on or before ``as_of``."""
    rows = history[(history["date"] <= as_of.isoformat()) & history["status"].isin(done_statuses(layer))]
    return {str(k): date.fromisoformat(str(v)) for k, v in rows.groupby("feature_id")["date"].min().items()}


def _checks(due: date, done: date | None, as_of: date, horizon: date, behind: bool) -> tuple[str, int] | None:
    """Classify one deadline: overdue, done_late, at_risk, or None (fine)."""
    if done is not None and done <= as_of:
        return ("done_late", (done - due).days) if done > due else None
    if due < as_of:
        return "overdue", (as_of - due).days
    if due <= horizon and behind:
        return "at_risk", (due - as_of).days
    return None


def _deadlines(row: Any, first_done: dict[str, date]) -> Iterator[tuple[str | None, date, date | None]]:
    """Yield (milestone name, due, done) for the feature itself and each of its milestones."""
    due = _date(getattr(row, "due_date", None))
    if due is not None:
        yield None, due, (first_done.get(str(row.id)) or due) if row.done else None
    for item in getattr(row, "milestones", None) or []:
        m_due = _date(item.get("due"))
        if m_due is not None:
            yield str(item.get("name", "")), m_due, _date(item.get("done"))


def _horizon(as_of: date, within_days: int) -> date:
    """Return ``as_of`` plus ``within_days`` days, saturating at the last representable day (9999-12-31)."""
    try:
        return as_of + timedelta(days=within_days)
    except OverflowError:
        return date.max


def layer_deadlines(
    store: FeatureStore,
    layer: Layer,
    as_of: date,
    within_days: int,
    threshold_pct: float,
    plan_year: int | None = None,
) -> list[tuple[str, DeadlineItem]]:
    """Return (list name, item) for every deadline of the layer that is overdue, late or at risk.

    A feature's status and progress on ``as_of`` come from the history replay. A feature is done on the
    day of its first report with a done status; a milestone on its ``done`` date (null until reached,
    and a later date is not yet done on ``as_of``). At risk: due within ``within_days`` and either below
    ``threshold_pct`` or still ``planned``. With ``plan_year``, only that plan year's projects.
    """
    columns = [c for c in _COLUMNS if c in layer.field_names]
    where = plan_filter(layer, plan_year)
    frame = pd.DataFrame(store.read(layer.id, where, columns=columns).drop(columns="geometry"))
    history = store.history(layer.id, until=as_of)
    state = with_state(frame, layer, history, as_of)
    first_done, horizon = _first_done(history, layer, as_of), _horizon(as_of, within_days)
    found = []
    for row in state.itertuples(index=False):
        behind = float(row.percent) < threshold_pct or row.state == "planned"
        for milestone, due, done in _deadlines(row, first_done):
            verdict = _checks(due, done, as_of, horizon, behind)
            if verdict is None:
                continue
            item = DeadlineItem(
                kind="milestone" if milestone is not None else "feature",
                layer=layer.id,
                id=str(row.id),
                name=getattr(row, "name", None),
                county=getattr(row, "county", None),
                milestone=milestone,
                due=due,
                done=done if done is not None and done <= as_of else None,
                status=str(row.state),
                progress_pct=float(row.percent),
                days=verdict[1],
            )
            found.append((verdict[0], item))
    return found


def deadlines(
    store: FeatureStore,
    layers: Sequence[Layer],
    as_of: date,
    within_days: int = 30,
    threshold_pct: float = 80.0,
    plan_year: int | None = None,
) -> DeadlineReport:
    """Return what is overdue, done late or at risk on ``as_of`` across ``layers``.

    Raises
    ------
    InvalidProgressQuery
        When ``within_days`` is outside 0..366 or ``threshold_pct`` outside 0..100.
    """
    if not 0 <= within_days <= 366:
        raise InvalidProgressQuery(f"within_days must be 0..366, got {within_days}")
    if not 0 <= threshold_pct <= 100:
        raise InvalidProgressQuery(f"threshold_pct must be 0..100, got {threshold_pct}")
    lists: dict[str, list[DeadlineItem]] = {"overdue": [], "done_late": [], "at_risk": []}
    for layer in layers:
        for name, item in layer_deadlines(store, layer, as_of, within_days, threshold_pct, plan_year):
            lists[name].append(item)
    for items in lists.values():
        items.sort(key=lambda i: (i.due, i.layer, i.id, i.milestone or ""))
    return DeadlineReport(
        as_of=as_of,
        within_days=within_days,
        threshold_pct=threshold_pct,
        counts={k: len(v) for k, v in lists.items()},
        **lists,
    )
