"""The lights as they were computed with pandas, kept as an independent oracle for ``layers.lights``.

``layers.lights.project_lights`` computes on numpy arrays; this is the pandas formulation it replaced, given the
same projects and histories by ``test_lights_vectorised.py``.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from layers.lights import LIGHTS, LightRules
from layers.models import Layer
from layers.progress import done_statuses, with_state


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
    """Return each project's light on ``as_of`` (pandas formulation)."""
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
