"""序时进度 lights: each project's progress against the time elapsed on its schedule, as green, yellow or red.

Time elapsed runs from the planned start (else the actual start, else 1 January of the plan year) to the
due date, the due day counting: ``elapsed = (as_of - start) / ((due - start) + 1 day)``, clipped to 0..100.
The lag is elapsed minus progress, in percentage points. The rules, worst one wins:

* lag >= ``yellow_lag_pts`` is yellow, >= ``red_lag_pts`` red (reason ``lag``);
* not started (status ``planned`` or 0 %) ``not_started_yellow_days`` after the start: at least yellow,
  ``not_started_red_days`` after it: red (reason ``not_started``);
* past the due date and not done: red (``overdue``);
* done on or before the due date: green (``on_time``); done after it stays marked: ``done_late`` with the
  light it had on its due date, at least yellow, and its figures are those of the due date (``measured_on``);
* otherwise green (``not_due``). A project without a due date gets no light (``no_due_date``).

Lights are decided on the figures rounded to 0.1, so the printed lag always agrees with the light.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from geo.storage.base import FeatureStore, Filter
from layers.errors import InvalidPlan
from layers.models import Layer
from layers.plan_model import Plan
from layers.progress import done_statuses, with_state

Light = Literal["green", "yellow", "red"]
LIGHTS: tuple[Light, ...] = ("green", "yellow", "red")
"""Lights from best to worst (their index is the severity)."""
REASONS = ("lag", "not_started", "overdue", "done_late", "on_time", "not_due", "no_due_date")
LIGHT_COLUMNS = (
    "id",
    "name",
    "county",
    "county_name",
    "owner",
    "status",
    "progress_pct",
    "planned_start",
    "start_date",
    "due_date",
    "completed_date",
)
"""Attributes the lights read (those a layer has)."""


class LightRules(BaseModel):
    """Thresholds of the lights: lag in percentage points, days without a start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    yellow_lag_pts: float = Field(default=10.0, ge=0, description="Yellow from this lag (points)")
    red_lag_pts: float = Field(default=30.0, ge=0, description="Red from this lag (points)")
    not_started_yellow_days: int = Field(default=30, ge=0, description="Not started this many days after the start")
    not_started_red_days: int = Field(default=90, ge=0, description="Red when not started this many days after it")

    @model_validator(mode="after")
    def _yellow_before_red(self) -> LightRules:
        if self.yellow_lag_pts > self.red_lag_pts:
            raise ValueError(f"yellow_lag_pts {self.yellow_lag_pts:g} is above red_lag_pts {self.red_lag_pts:g}")
        if self.not_started_yellow_days > self.not_started_red_days:
            raise ValueError(
                f"not_started_yellow_days {self.not_started_yellow_days} is above "
                f"not_started_red_days {self.not_started_red_days}"
            )
        return self


def rules_of(plan: Plan | None) -> LightRules:
    """Return the light thresholds a plan sets (the defaults where it sets none).

    Raises
    ------
    InvalidPlan
        When the plan's ``lights`` are not valid thresholds.
    """
    try:
        return LightRules.model_validate(plan.lights if plan else {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'lights'}: {e['msg']}" for e in exc.errors())
        raise InvalidPlan(f"plan {plan.year if plan else ''} has invalid light thresholds: {problems}") from None


def has_lights(layer: Layer) -> bool:
    """Return whether a layer's features are built to a schedule (monitored layers such as water sections are not)."""
    statuses = {s.value for s in layer.statuses}
    return layer.kind == "project" and "in_progress" in statuses and "due_date" in layer.field_names


def _days(values: pd.Series) -> pd.Series:
    """Return dates (ISO text, dates or NaT) as datetime64 days."""
    return pd.to_datetime(values.astype(object).where(values.notna(), None), errors="coerce").dt.normalize()


def elapsed_pct(start: pd.Series, due: pd.Series, as_of: pd.Series) -> pd.Series:
    """Return the share of each schedule elapsed on ``as_of`` in percent (0..100, NaN without a due date).

    All three are datetime64 Series. The due day counts: a schedule from 1 January to 31 December
    has 365 days, and on 1 July 181 of them are behind (49.6 %).
    """
    duration = ((due - start).dt.days + 1).clip(lower=1)
    elapsed = (as_of - start).dt.days
    return (100.0 * elapsed / duration).clip(0.0, 100.0)


def _level(lag: pd.Series, rules: LightRules) -> pd.Series:
    return (lag >= rules.yellow_lag_pts).astype(int) + (lag >= rules.red_lag_pts).astype(int)


def _running(
    start: pd.Series, due: pd.Series, day: pd.Series, percent: pd.Series, idle: pd.Series, rules: LightRules
) -> pd.DataFrame:
    """Return elapsed, progress, lag, severity and reason of unfinished projects on ``day`` (one per row)."""
    elapsed = elapsed_pct(start, due, day).round(1)
    progress = percent.astype(float).round(1)
    lag = (elapsed - progress).round(1)
    by_lag = _level(lag, rules)
    waited = (day - start).dt.days
    by_idle = ((waited >= rules.not_started_yellow_days).astype(int) + (waited >= rules.not_started_red_days)) * idle
    overdue = (due < day).astype(int) * 2
    level = np.maximum(np.maximum(by_lag, by_idle), overdue)
    reason = np.select(
        [overdue > 0, (by_idle > 0) & (by_idle >= by_lag), by_lag > 0], ["overdue", "not_started", "lag"], "not_due"
    )
    return pd.DataFrame(
        {"elapsed_pct": elapsed, "progress_pct": progress, "lag_pts": lag, "level": level, "reason": reason},
        index=start.index,
    )


def _done_on(state: pd.DataFrame, layer: Layer, history: pd.DataFrame | None) -> pd.Series:
    """Return the day each done project was done: its first done report, else its ``completed_date``."""
    done_on = pd.Series(pd.NaT, index=state.index, dtype="datetime64[ns]")
    if history is not None and len(history):
        rows = history[history["status"].isin(done_statuses(layer))]
        first = rows.groupby("feature_id")["date"].min()
        done_on = _days(state["id"].astype(str).map(first))
    if "completed_date" in state:
        done_on = done_on.fillna(_days(state["completed_date"]))
    return done_on.where(state["done"])


def _at_due(state: pd.DataFrame, history: pd.DataFrame | None) -> tuple[pd.Series, pd.Series]:
    """Return each project's percent on its due date and whether it had not started then (history replay).

    Without a report by then the percent is NaN (unknown) and the project does not count as idle.
    """
    if history is None or not len(history):
        return pd.Series(np.nan, index=state.index), pd.Series(False, index=state.index)
    pairs = state[["id", "due_date"]].assign(id=state["id"].astype(str), due=state["due_date"].astype(str).str[:10])
    rows = history.merge(pairs, left_on="feature_id", right_on="id")
    rows = rows[rows["date"].astype(str) <= rows["due"]].drop_duplicates("feature_id", keep="last")
    latest = rows.set_index("feature_id")
    percent = pairs["id"].map(pd.to_numeric(latest["percent"], errors="coerce")).clip(0.0, 100.0)
    status = pairs["id"].map(latest["status"])
    return percent, (status == "planned") | (percent == 0)


def project_lights(
    frame: pd.DataFrame,
    layer: Layer,
    history: pd.DataFrame | None,
    as_of: date,
    year: int,
    rules: LightRules,
    replayed: bool = True,
) -> pd.DataFrame:
    """Return each project's light on ``as_of``.

    Parameters
    ----------
    frame : the projects, with the :data:`LIGHT_COLUMNS` the layer has.
    layer : their layer (its statuses and what counts as done).
    history : the layer's history rows up to ``as_of`` (``FeatureStore.history``), or None.
    as_of : the day the lights are for.
    year : the plan year; its 1 January starts a schedule without a planned or actual start.
    rules : the thresholds.
    replayed : True to take status and percent from the history replay, False to take the current attributes.

    Returns
    -------
    pandas.DataFrame
        ``frame``'s id/name/county/owner/due_date columns plus ``elapsed_pct``, ``progress_pct``, ``lag_pts``
        (0.1 precision), ``light`` (None without a due date), ``reason``, ``done_late`` and ``measured_on``.

    Examples
    --------
    >>> from layers.registry import load_catalogue
    >>> row = {"id": "x", "status": "in_progress", "progress_pct": 30.0, "planned_start": "2025-01-01",
    ...        "due_date": "2025-12-31"}
    >>> out = project_lights(pd.DataFrame([row]), load_catalogue().get("reservoirs"), None, date(2025, 7, 1),
    ...                      2025, LightRules(), replayed=False)
    >>> print(out.loc[0, "elapsed_pct"], out.loc[0, "lag_pts"], out.loc[0, "light"], out.loc[0, "reason"])
    49.6 19.6 yellow lag
    """
    state = with_state(frame, layer, history, as_of if replayed else None)
    start = _days(_column(state, "planned_start")).fillna(_days(_column(state, "start_date")))
    start = start.fillna(pd.Timestamp(year, 1, 1))
    due = _days(_column(state, "due_date"))
    day = pd.Series(pd.Timestamp(as_of), index=state.index)
    idle = (~state["done"]) & ((state["state"] == "planned") | (state["percent"] == 0))
    now = _running(start, due, day, state["percent"], idle.astype(int), rules)
    pct_due, idle_due = _at_due(state, history)
    then = _running(start, due, due, pct_due, idle_due.astype(int), rules)
    done_on = _done_on(state, layer, history)
    late = state["done"] & due.notna() & (done_on > due)
    on_time = state["done"] & ~late
    out = now.where(~late, then)
    out.loc[on_time, ["level", "reason"]] = [0, "on_time"]
    out.loc[late, "level"] = np.maximum(then["level"][late], 1)
    out.loc[late, "reason"] = "done_late"
    unscheduled = due.isna() & ~state["done"]
    out.loc[unscheduled, "reason"] = "no_due_date"
    keep = [c for c in ("id", "name", "county", "county_name", "owner", "due_date") if c in state]
    result = state[keep].copy()
    for name in ("elapsed_pct", "progress_pct", "lag_pts"):
        result[name] = out[name].where(~unscheduled)
    result["light"] = [None if u else LIGHTS[int(v)] for v, u in zip(out["level"], unscheduled, strict=True)]
    result["reason"] = out["reason"]
    result["done_late"] = late
    result["measured_on"] = np.where(late, due.dt.strftime("%Y-%m-%d"), as_of.isoformat())
    return result


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)


FEATURE_PROPERTIES = ("light", "lag_pts", "elapsed_pct")
"""What items and map tiles carry of a project's light."""


@dataclass(frozen=True)
class LightsAt:
    """Which lights features carry: the plan year, its rules and the day (None: today, current attributes)."""

    year: int
    rules: LightRules
    as_of: date | None = None


def feature_lights(
    store: FeatureStore, layer: Layer, ids: pd.Series, at: LightsAt, known: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Return :data:`FEATURE_PROPERTIES` of the features ``ids`` (in their order and index).

    Without ``at.as_of`` the lights are today's from the current attributes; with it, the history replay.
    Layers without schedules get an empty frame. ``known`` holds the features' stored attributes when they
    were just read (a page of items): when it has every column the lights read, they are not read again.
    """
    if not has_lights(layer) or not len(ids):
        return pd.DataFrame(index=ids.index, columns=list(FEATURE_PROPERTIES))
    columns = [c for c in LIGHT_COLUMNS if c in layer.field_names]
    keys = [str(i) for i in ids]
    if known is not None and all(c in known.columns for c in columns):
        frame = pd.DataFrame(known[columns]).reset_index(drop=True)
    else:
        features = store.read(layer.id, Filter(ids=keys), columns=columns)
        frame = pd.DataFrame(features.drop(columns=features.geometry.name))
    day = at.as_of or date.today()
    history = store.history(layer.id, keys, until=day)
    rows = project_lights(frame, layer, history, day, at.year, at.rules, replayed=at.as_of is not None)
    found = rows.set_index(rows["id"].astype(str))[list(FEATURE_PROPERTIES)]
    return found.reindex(keys).set_axis(ids.index)
