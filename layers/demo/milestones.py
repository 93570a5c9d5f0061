"""Milestones of the named hub, road and bridge projects, and the schedules they imply."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np

from layers.demo.history import Schedule


def reach_milestones(
    rng: np.random.Generator,
    plan: Sequence[tuple[str, str]],
    start: date,
    year: int,
    *,
    on_time: float = 0.7,
    late: float = 0.2,
    fixed: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Return the milestone list ``[{"name", "due", "done"}]`` (ISO dates; done None until reached).

    Each milestone due within ``year`` is reached on time (``on_time``), late by 8-70 days (``late``), or
    not at all; once one is missed the later ones are too. ``fixed`` gives known done dates by name.
    Done dates never precede ``start`` or the previous milestone and never pass the end of ``year``.
    """
    out: list[dict[str, Any]] = []
    previous, missed = start, False
    for name, due_text in plan:
        due = date.fromisoformat(due_text)
        done: date | None = None
        if fixed and name in fixed:
            done = date.fromisoformat(fixed[name])
        elif not missed and due <= date(year, 12, 31):
            draw = rng.random()
            if draw < on_time:
                done = due - timedelta(days=int(rng.integers(0, 26)))
            elif draw < on_time + late:
                done = due + timedelta(days=int(rng.integers(8, 71)))
            if done is not None:
                done = max(done, previous + timedelta(days=7))
                done = None if done > date(year, 12, 31) else done
        missed = missed or done is None
        previous = done or previous
        out.append({"name": name, "due": due.isoformat(), "done": None if done is None else done.isoformat()})
    return out


def milestone_schedule(milestones: Sequence[Mapping[str, Any]], start: date, due: date) -> Schedule:
    """Return the project schedule its milestones imply: finished when the last milestone is reached.

    Unfinished projects end the year at 10-95 % progress in proportion to the milestones reached; every
    reached milestone becomes a dated report.
    """
    reached = [(date.fromisoformat(m["done"]), f"节点完成:{m['name']}") for m in milestones if m["done"]]
    finish = reached[-1][0] if len(reached) == len(milestones) else None
    end_pct = min(10.0 + 80.0 * len(reached) / max(len(milestones), 1), 95.0)
    return Schedule(due=due, start=start, finish=finish, end_pct=end_pct, events=tuple(reached))
