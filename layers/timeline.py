"""Monthly burn-up of a layer towards its target: cumulative done at each month end, beside a linear plan."""

from __future__ import annotations

import calendar
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from shapely.geometry.base import BaseGeometry

from geo.storage.base import FeatureStore, Filter
from geo.types import BBox
from layers.models import Layer
from layers.plan_scope import whole_plan
from layers.progress import feature_frame, summarise, with_state


class TimelinePoint(BaseModel):
    """The layer's state at one month end (cumulative)."""

    model_config = ConfigDict(frozen=True)

    month: str = Field(description="Month, YYYY-MM", examples=["2025-06"])
    as_of: date = Field(description="The month's last day: the replay date")
    done: float = Field(description="Completed value at the month end (as `done` of /progress with as_of)")
    done_weighted: float = Field(description="Progress-weighted value: Σ value × percent / 100")
    done_features: int = Field(description="Features done at the month end")
    plan: float = Field(description="Linear plan line: plan_basis × month / 12")
    pct: float | None = Field(description="done / plan_basis × 100")


class Timeline(BaseModel):
    """A layer's monthly burn-up chart data for the plan year."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "layer": "farmland",
                    "title_zh": "高标准农田建设",
                    "unit_zh": "亩",
                    "scope": "city",
                    "year": 2025,
                    "target": 100000,
                    "planned": 101870.0,
                    "plan_basis": 100000,
                    "points": [
                        {
                            "month": "2025-01",
                            "as_of": "2025-01-31",
                            "done": 0.0,
                            "done_weighted": 1520.5,
                            "done_features": 0,
                            "plan": 8333.3,
                            "pct": 0.0,
                        }
                    ],
                }
            ]
        },
    )

    layer: str = Field(description="Layer id")
    title_zh: str = Field(description="Layer title")
    unit_zh: str = Field(description="Unit of the values")
    scope: str = Field(description="`city`, or `selection` when filtered (e.g. by county)")
    year: int = Field(description="Plan year")
    target: float | None = Field(description="Citywide plan target")
    planned: float = Field(description="Value of all selected features")
    plan_basis: float = Field(
        description="What the plan line reaches in December: the target for the city, "
        "the selection's planned value otherwise"
    )
    points: list[TimelinePoint] = Field(description="One point per month end, January to December")


def month_ends(year: int) -> list[date]:
    """Return the last day of each month of ``year``.

    Examples
    --------
    >>> [d.isoformat() for d in month_ends(2025)][:2]
    ['2025-01-31', '2025-02-28']
    """
    return [date(year, m, calendar.monthrange(year, m)[1]) for m in range(1, 13)]


def plan_year(layer: Layer) -> int:
    """Return the year of the layer's target deadline (2025 for this plan)."""
    return int((layer.target.deadline if layer.target else "2025-12-31")[:4])


def layer_timeline(
    store: FeatureStore,
    layer: Layer,
    where: Filter | None = None,
    area: BaseGeometry | BBox | None = None,
    year: int | None = None,
) -> Timeline:
    """Return the layer's cumulative done value at each month end of the plan year.

    Each point is the history replayed to that month end, so it equals
    ``layer_progress(store, layer, as_of=<month end>, where, area).done``. The plan line rises linearly
    from 0 (start of the year) to ``plan_basis`` in December: the citywide target when nothing is
    selected, otherwise the selection's planned value (a county has no target of its own).
    """
    year = year or plan_year(layer)
    frame = feature_frame(store, layer, where, area)
    ends = month_ends(year)
    history = store.history(layer.id, until=ends[-1])
    selected = area is not None or not whole_plan(where)
    planned = float((frame["value"] * frame["weight"]).sum())
    target = layer.target.value if layer.target else None
    basis = planned if selected or target is None else target
    points = []
    for month, end in enumerate(ends, start=1):
        p = summarise(layer, with_state(frame, layer, history, end), end)
        points.append(
            TimelinePoint(
                month=end.strftime("%Y-%m"),
                as_of=end,
                done=p.done,
                done_weighted=p.done_weighted,
                done_features=p.done_features,
                plan=basis * month / 12,
                pct=round(100.0 * p.done / basis, 3) if basis else None,
            )
        )
    return Timeline(
        layer=layer.id,
        title_zh=layer.title_zh,
        unit_zh=layer.target.unit_zh if layer.target else "",
        scope="selection" if selected else "city",
        year=year,
        target=target,
        planned=planned,
        plan_basis=basis,
        points=points,
    )
