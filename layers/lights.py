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

import warnings
from dataclasses import dataclass, fields
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from geo.storage.base import FeatureStore, Filter
from layers.errors import InvalidPlan
from layers.models import Layer
from layers.plan_model import Plan
from layers.progress import done_statuses, initial_status, replay

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


def _day_numbers(values: pd.Series) -> np.ndarray:
    """Return dates (ISO text, dates, datetimes or missing) as float days since 1970-01-01, NaN when missing.

    Dates and ISO text convert in numpy (a project page or a layer of thousands costs microseconds, where
    pandas' parser costs a millisecond per column); text numpy does not read, or reads only with a warning
    (offsets), goes through :func:`_days`, so the days are pandas' in every case.
    """
    if pd.api.types.is_datetime64_dtype(values.dtype):
        days = values.to_numpy().astype("datetime64[D]")
    else:
        array = values.to_numpy(dtype=object)
        present = array.copy()
        present[pd.isna(array)] = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                days = present.astype("datetime64[D]")
        except (TypeError, ValueError, DeprecationWarning):
            days = _days(values).to_numpy().astype("datetime64[D]")
    out = days.astype("int64").astype(float)
    out[np.isnat(days)] = np.nan
    return out


def _elapsed(start: np.ndarray, due: np.ndarray, day: np.ndarray | float) -> np.ndarray:
    """Return :func:`elapsed_pct` of day numbers (NaN where ``due`` or ``day`` is NaN)."""
    duration = np.maximum(due - start + 1.0, 1.0)
    return np.clip(100.0 * (day - start) / duration, 0.0, 100.0)


def elapsed_pct(start: pd.Series, due: pd.Series, as_of: pd.Series) -> pd.Series:
    """Return the share of each schedule elapsed on ``as_of`` in percent (0..100, NaN without a due date).

    All three are datetime64 Series. The due day counts: a schedule from 1 January to 31 December
    has 365 days, and on 1 July 181 of them are behind (49.6 %).
    """
    elapsed = _elapsed(_day_numbers(start), _day_numbers(due), _day_numbers(as_of))
    return pd.Series(elapsed, index=start.index)


@dataclass(frozen=True)
class _Figures:
    """Elapsed, progress and lag (0.1 precision), severity (0..2) and reason of projects on some day."""

    elapsed: np.ndarray
    progress: np.ndarray
    lag: np.ndarray
    level: np.ndarray
    reason: np.ndarray

    def where(self, mask: np.ndarray, other: _Figures) -> _Figures:
        """Return ``other``'s figures where ``mask`` is true, these elsewhere."""
        return _Figures(*(np.where(mask, getattr(other, f.name), getattr(self, f.name)) for f in fields(self)))


def _running(
    start: np.ndarray,
    due: np.ndarray,
    day: np.ndarray | float,
    percent: np.ndarray,
    idle: np.ndarray,
    rules: LightRules,
) -> _Figures:
    """Return the figures of unfinished projects on ``day`` (day numbers; NaN comparisons are false)."""
    elapsed = np.round(_elapsed(start, due, day), 1)
    progress = np.round(percent.astype(float), 1)
    lag = np.round(elapsed - progress, 1)
    by_lag = (lag >= rules.yellow_lag_pts).astype(int) + (lag >= rules.red_lag_pts).astype(int)
    waited = day - start
    by_idle = ((waited >= rules.not_started_yellow_days).astype(int) + (waited >= rules.not_started_red_days)) * idle
    overdue = (due < day).astype(int) * 2
    level = np.maximum(np.maximum(by_lag, by_idle), overdue)
    reason = np.select(
        [overdue > 0, (by_idle > 0) & (by_idle >= by_lag), by_lag > 0], ["overdue", "not_started", "lag"], "not_due"
    ).astype(object)
    return _Figures(elapsed, progress, lag, level, reason)


@dataclass(frozen=True)
class _Reports:
    """What the history says of each project (arrays in the projects' order)."""

    done_on: np.ndarray
    """Day number of the first report with a done status (NaN without one)."""
    percent_at_due: np.ndarray
    """Percent of the last report dated on or before the due date (NaN without one)."""
    idle_at_due: np.ndarray
    """Whether that report said planned or 0 % (False without one)."""


def _reports(ids: np.ndarray, due_text: np.ndarray, layer: Layer, history: pd.DataFrame | None) -> _Reports:
    """Read each project's first done day and its state on its due date out of history rows (oldest first)."""
    n = len(ids)
    done_on, percent, idle = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=bool)
    if history is None or not len(history):
        return _Reports(done_on, percent, idle)
    where = {key: i for i, key in enumerate(ids)}
    position = np.fromiter((where.get(str(f), -1) for f in history["feature_id"]), dtype=np.int64, count=len(history))
    mine = position >= 0
    position = position[mine]
    status = history["status"].to_numpy(dtype=object)[mine]
    dates = history["date"].astype(str).to_numpy(dtype=object)[mine]
    days = _day_numbers(pd.Series(dates))
    statuses = done_statuses(layer)
    finished = np.fromiter((s in statuses for s in status), dtype=bool, count=len(status))
    np.fmin.at(done_on, position[finished], days[finished])
    by_due = np.nonzero(dates <= due_text[position])[0]
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, position[by_due], by_due)
    reported = last >= 0
    values = pd.to_numeric(history["percent"].to_numpy(dtype=object)[mine], errors="coerce").astype(float)
    percent[reported] = np.clip(values[last[reported]], 0.0, 100.0)
    idle[reported] = (status[last[reported]] == "planned") | (percent[reported] == 0)
    return _Reports(done_on, percent, idle)


def _state(
    frame: pd.DataFrame, layer: Layer, history: pd.DataFrame | None, as_of: date | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return each project's status, whether it is done and its percent (done = 100) as :func:`with_state`."""
    if as_of is None or history is None:
        status = frame["status"] if "status" in frame else pd.Series(initial_status(layer), index=frame.index)
        raw = frame["progress_pct"] if "progress_pct" in frame else pd.Series(np.nan, index=frame.index)
        state, percent = status.to_numpy(dtype=object), pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    else:
        status, reported = replay(history, frame["id"], as_of, layer)
        state, percent = status.to_numpy(dtype=object), reported.to_numpy(dtype=float)
    finished = done_statuses(layer)
    done = np.fromiter((s in finished for s in state), dtype=bool, count=len(state))
    percent = np.where(done, 100.0, np.clip(np.nan_to_num(percent, nan=0.0), 0.0, 100.0))
    return state, done, percent


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
    # Plain numpy over the columns: the lights of an items page (100 rows) cost what pandas' per-call
    # overhead made them cost for 10,000.
    state, done, percent = _state(frame, layer, history, as_of if replayed else None)
    start = _day_numbers(_column(frame, "planned_start"))
    start = np.where(np.isnan(start), _day_numbers(_column(frame, "start_date")), start)
    start = np.where(np.isnan(start), float((date(year, 1, 1) - EPOCH).days), start)
    due_dates = _column(frame, "due_date")
    due = _day_numbers(due_dates)
    day = float((as_of - EPOCH).days)
    idle = (~done) & ((state == "planned") | (percent == 0))
    now = _running(start, due, day, percent, idle.astype(int), rules)
    ids = frame["id"].astype(str).to_numpy(dtype=object)
    due_text = due_dates.astype(str).str[:10].fillna("").to_numpy(dtype=object)  # "": no report is before it
    reports = _reports(ids, due_text, layer, history)
    then = _running(start, due, due, reports.percent_at_due, reports.idle_at_due.astype(int), rules)
    done_on = np.where(np.isnan(reports.done_on), _day_numbers(_column(frame, "completed_date")), reports.done_on)
    late = done & ~np.isnan(due) & (done_on > due)
    on_time = done & ~late
    out = now.where(late, then)
    level, reason = out.level.copy(), out.reason.copy()
    level[on_time], reason[on_time] = 0, "on_time"
    level[late], reason[late] = np.maximum(then.level[late], 1), "done_late"
    unscheduled = np.isnan(due) & ~done
    reason[unscheduled] = "no_due_date"
    keep = [c for c in ("id", "name", "county", "county_name", "owner", "due_date") if c in frame]
    measured = np.datetime_as_string(np.where(late, due, 0.0).astype("int64").astype("datetime64[D]"))
    columns = {
        **{c: frame[c].to_numpy() for c in keep},
        "elapsed_pct": np.where(unscheduled, np.nan, out.elapsed),
        "progress_pct": np.where(unscheduled, np.nan, out.progress),
        "lag_pts": np.where(unscheduled, np.nan, out.lag),
        "light": np.array([None, *LIGHTS], dtype=object)[np.where(unscheduled, 0, level + 1)],
        "reason": reason,
        "done_late": late,
        "measured_on": np.where(late, measured.astype(object), as_of.isoformat()),
    }
    return pd.DataFrame(columns, index=frame.index)


EPOCH = date(1970, 1, 1)
"""Day 0 of the day numbers."""


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
    were just read asking for every column the lights read (a page of items): they are not read again, and a
    column it lacks is one the store does not hold.
    """
    if not has_lights(layer) or not len(ids):
        return pd.DataFrame(index=ids.index, columns=list(FEATURE_PROPERTIES))
    columns = [c for c in LIGHT_COLUMNS if c in layer.field_names]
    keys = [str(i) for i in ids]
    if known is not None:
        frame = pd.DataFrame({c: known[c].to_numpy() for c in columns if c in known.columns})
    else:
        features = store.read(layer.id, Filter(ids=keys), columns=columns)
        frame = pd.DataFrame(features.drop(columns=features.geometry.name))
    day = at.as_of or date.today()
    history = store.history(layer.id, keys, until=day)
    rows = project_lights(frame, layer, history, day, at.year, at.rules, replayed=at.as_of is not None)
    where = pd.Index(rows["id"].astype(str)).get_indexer(keys)
    missing = where < 0  # a feature deleted since the page was read
    found = {
        "light": np.where(missing, None, rows["light"].to_numpy(dtype=object)[where]),
        "lag_pts": np.where(missing, np.nan, rows["lag_pts"].to_numpy(dtype=float)[where]),
        "elapsed_pct": np.where(missing, np.nan, rows["elapsed_pct"].to_numpy(dtype=float)[where]),
    }
    return pd.DataFrame(found, index=ids.index)
