"""The progress of a layer against its target, as reported (the model every progress path returns)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from layers.models import Layer

INVESTMENT_DONE = "investment_done_wan"
"""The attribute (and report field) holding a project's cumulative investment completed, in 万元."""

_EXAMPLE: dict[str, Any] = {
    "layer": "farmland",
    "title_zh": "高标准农田建设",
    "scope": "city",
    "target": 100000,
    "unit_zh": "亩",
    "done": 61234.5,
    "done_weighted": 78120.3,
    "planned": 101870.0,
    "done_features": 301,
    "features": 480,
    "by_status": {"completed": 301, "in_progress": 150, "planned": 29},
    "overdue": 3,
    "as_of": "2025-06-30",
    "pct": 61.2,
    "pct_weighted": 78.1,
    "pct_planned": 60.1,
}


class SecondarySum(BaseModel):
    """A further sum reported with a target (e.g. households benefited), over done and all features."""

    model_config = ConfigDict(frozen=True)

    label_zh: str = Field(description="Chinese label, e.g. 惠及户数")
    done: float = Field(description="Sum over features whose status is done")
    total: float = Field(description="Sum over all selected features")


class Progress(BaseModel):
    """How far a layer (or the part of it in a county or an area) is towards its target.

    ``done`` is in the target's unit (mu for farmland, a count otherwise); ``pct`` is done / the city
    target (a county's share of it); ``pct_quota`` is done / the county's quota on county rows;
    ``planned`` is what the selected features would add when all are done.
    """

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [_EXAMPLE]})

    layer: str = Field(description="Layer id")
    title_zh: str = Field(description="Layer title")
    target: float | None = Field(description="The plan's citywide target (None for context layers)")
    unit_zh: str = Field(description="Unit of target and done, e.g. 亩 or 个")
    done: float = Field(description="Completed: value of the features whose status counts as done")
    done_features: int = Field(description="Number of features whose status counts as done")
    features: int = Field(description="Number of features counted (area queries: those with a share > 0)")
    by_status: dict[str, int] = Field(default_factory=dict, description="Feature count per status")
    overdue: int = Field(default=0, description="Features past their due date and not done")
    as_of: date | None = Field(default=None, description="Replay date; None means current attributes")
    done_weighted: float = Field(default=0.0, description="Progress-weighted: Σ value × percent / 100")
    planned: float = Field(default=0.0, description="Value of all selected features (done or not)")
    secondary: dict[str, SecondarySum] = Field(default_factory=dict, description="Further sums by field")
    scope: str = Field(
        default="city", description="`city`, a county adcode, `area` (polygon/bbox) or `selection` (other filters)"
    )
    scope_name: str | None = Field(default=None, description="County name for county rows")
    quota: float | None = Field(
        default=None, description="County rows: the county's quota (任务分解) in the plan; None without one"
    )

    @computed_field(description="done / quota × 100 (county rows with a quota)")  # type: ignore[prop-decorator]
    @property
    def pct_quota(self) -> float | None:
        """Return percent of the county's quota reached, or None without a quota."""
        return None if not self.quota else round(100.0 * self.done / self.quota, 3)

    @computed_field(description="done / target × 100")  # type: ignore[prop-decorator]
    @property
    def pct(self) -> float | None:
        """Return percent of the target reached, or None for layers without a target."""
        return None if not self.target else round(100.0 * self.done / self.target, 3)

    @computed_field(description="done / planned × 100")  # type: ignore[prop-decorator]
    @property
    def pct_planned(self) -> float | None:
        """Return percent of the selected features' value that is done, or None when nothing is planned."""
        return None if not self.planned else round(100.0 * self.done / self.planned, 3)

    @computed_field(description="done_weighted / target × 100")  # type: ignore[prop-decorator]
    @property
    def pct_weighted(self) -> float | None:
        """Return the progress-weighted percent of the target, or None without a target."""
        return None if not self.target else round(100.0 * self.done_weighted / self.target, 3)


def initial_status(layer: Layer) -> str:
    """Return the status of a feature with no history yet (``no_data`` where the layer has it)."""
    values = [s.value for s in layer.statuses]
    if "no_data" in values:
        return "no_data"
    return "planned" if "planned" in values or not values else values[0]


def done_statuses(layer: Layer) -> tuple[str, ...]:
    """Return the statuses that count as done for the layer's target."""
    return layer.target.done_statuses if layer.target else ("completed",)
