"""Demo progress histories: schedules, the dated reports they produce, and replaying reports to a state."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from geo.storage.base import HistoryEntry

AUTHOR = "demo"


@dataclass(frozen=True)
class Schedule:
    """When one project starts, is due and finishes (None: not by the end of the plan year).

    ``end_pct`` is the progress reached at the year's end by an unfinished project; ``events`` are dated
    notes (milestones reached) that become reports of their own.
    """

    due: date
    start: date | None = None
    finish: date | None = None
    end_pct: float = 0.0
    events: tuple[tuple[date, str], ...] = ()


@dataclass(frozen=True)
class Pace:
    """How a layer's projects are scheduled.

    Attributes
    ----------
    due_dates : (ISO date, weight) pairs to draw due dates from.
    duration_days : (min, max) working time of a finished project.
    carry_over : share of projects started in the previous year.
    late : share of finished projects that finish after their due date.
    unstarted : share of unfinished projects not started by the year's end.
    end_pct : (min, max) progress of unfinished, started projects at the year's end.
    """

    due_dates: tuple[tuple[str, float], ...]
    duration_days: tuple[int, int]
    carry_over: float = 0.0
    late: float = 0.15
    unstarted: float = 0.3
    end_pct: tuple[float, float] = (35.0, 92.0)


@dataclass(frozen=True)
class Notes:
    """Short Chinese report texts of one layer."""

    working: tuple[str, ...] = ("按计划推进",)
    planned: str = "列入2025年度计划"
    prep: str = "前期工作推进中"
    started: str = "开工建设"
    carried: str = "上年开工,结转续建"
    late: str = "进度滞后,已督办"
    done: str = "完工验收"


def _days(rng: np.random.Generator, low: int, high: int) -> timedelta:
    return timedelta(days=int(rng.integers(low, high + 1)))


def _schedule(rng: np.random.Generator, done: bool, pace: Pace, year: int) -> Schedule:
    dates, weights = zip(*pace.due_dates, strict=True)
    due = date.fromisoformat(str(rng.choice(dates, p=np.asarray(weights) / sum(weights))))
    first, last = date(year, 1, 1), date(year, 12, 31)
    carry = rng.random() < pace.carry_over
    start = date(year - 1, 9, 1) + _days(rng, 0, 100) if carry else None
    if not done:
        if start is None and rng.random() < pace.unstarted:
            return Schedule(due)
        # A late start is realistic, a start after the due date is not: keep two months of work before it.
        start = start or min(first + _days(rng, 45, 290), max(due - timedelta(days=60), first + timedelta(days=15)))
        return Schedule(due, start, None, float(rng.uniform(*pace.end_pct)))
    late = rng.random() < pace.late and due <= last - timedelta(days=20)
    finish = due + _days(rng, 7, 75) if late else due - _days(rng, 0, 75)
    finish = min(max(finish, first + timedelta(days=60)), last - timedelta(days=3))
    if start is None:
        start = max(finish - _days(rng, *pace.duration_days), first + _days(rng, 15, 60))
    start = min(start, finish - timedelta(days=30))
    return Schedule(due, start, finish)


def plan_schedules(rng: np.random.Generator, done: npt.ArrayLike, pace: Pace, year: int = 2025) -> list[Schedule]:
    """Return one schedule per project; ``done[i]`` says whether project i finishes within ``year``.

    Finished projects finish on or up to 75 days before their due date, or (a ``pace.late`` share) up to
    75 days after it; unfinished ones are either not started or stop at ``pace.end_pct`` progress.
    """
    return [_schedule(rng, bool(d), pace, year) for d in np.asarray(done, dtype=bool)]


def _smoothstep_inverse(s: float) -> float:
    return 0.5 - math.sin(math.asin(1.0 - 2.0 * s) / 3.0)


def _curve(schedule: Schedule, start: date, p0: float, year: int) -> Callable[[date], float]:
    """Return an S-shaped percent-complete curve from ``p0`` at ``start`` to 100 at the (projected) finish.

    Projects begun long ago (下摄司大桥: 2017, halted 2021-2023) are drawn as if begun the year before
    ``year``, so the plan year shows real movement rather than a flat 99 %.
    """
    t0 = max(start, date(year - 1, 1, 1)).toordinal()
    if schedule.finish is not None:
        t1 = float(schedule.finish.toordinal())
    else:
        reached = min(max((schedule.end_pct - p0) / (100.0 - p0), 0.01), 0.99)
        t1 = t0 + (date(year, 12, 31).toordinal() - t0) / _smoothstep_inverse(reached)

    def percent(day: date) -> float:
        u = min(max((day.toordinal() - t0) / (t1 - t0), 0.0), 1.0)
        return p0 + (100.0 - p0) * u * u * (3.0 - 2.0 * u)

    return percent


def progress_entries(
    layer: str,
    feature_id: str,
    schedule: Schedule,
    rng: np.random.Generator,
    notes: Notes,
    year: int = 2025,
) -> list[HistoryEntry]:
    """Return a project's dated reports: listed (planned), started, monthly progress, completed.

    Reports fall within ``year`` except the start of a project carried over from an earlier year and
    its ``events``; percent never decreases and stays below 100 until the completion report.
    """

    def entry(day: date, status: str, percent: float, note: str) -> HistoryEntry:
        return HistoryEntry(layer, feature_id, day, status, round(percent, 1), note, AUTHOR, None, True)

    out: list[HistoryEntry] = []
    listed = date(year, 1, int(rng.integers(3, 16)))
    if schedule.start is None or schedule.start > listed:
        out.append(entry(listed, "planned", 0.0, notes.planned))
    if schedule.start is None:
        out.append(entry(date(year, int(rng.integers(6, 11)), 25), "planned", 0.0, notes.prep))
        return out
    p0 = float(rng.uniform(1.0, 5.0))
    out.append(
        entry(schedule.start, "in_progress", p0, notes.started if schedule.start.year == year else notes.carried)
    )
    percent, events = _curve(schedule, schedule.start, p0, year), dict(schedule.events)
    reports = {date(year, month, int(rng.integers(20, 28))) for month in range(1, 13)}
    stop = schedule.finish or date(year, 12, 31)
    warned = False
    for day in sorted(reports | set(events)):
        if not schedule.start < day < stop or (day not in events and day.year != year):
            continue
        note = events.get(day)
        if note is None and day > schedule.due and not warned:
            note, warned = notes.late, True
        note = note or str(rng.choice(notes.working))
        out.append(entry(day, "in_progress", min(percent(day), 99.0), note))
    if schedule.finish is not None:
        out.append(entry(schedule.finish, "completed", 100.0, events.get(schedule.finish, notes.done)))
    return out


def replay(entries: Sequence[HistoryEntry]) -> dict[str, Any]:
    """Return a feature's current state from its reports: what the feature's columns must say.

    Reports are taken in date order (same-day reports in the order given, as the store orders by
    ``date, seq``). ``status``, ``progress_pct`` and ``updated_at`` come from the last report;
    ``start_date`` is the first report not ``planned``; ``completed_date`` the first ``completed`` report
    while the status is still ``completed``.

    Raises
    ------
    ValueError
        If there are no entries.
    """
    if not entries:
        raise ValueError("cannot replay an empty history")
    ordered = sorted(entries, key=lambda e: e.date)
    last = ordered[-1]
    started = next((e.date for e in ordered if e.status != "planned"), None)
    completed = next((e.date for e in ordered if e.status == "completed"), None)
    return {
        "status": last.status,
        "progress_pct": last.percent,
        "updated_at": last.date,
        "start_date": started,
        "completed_date": completed if last.status == "completed" else None,
    }
