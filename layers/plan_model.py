"""A plan year as data: its targets, how features count, due dates and county quotas (任务分解).

Pure models (no store): ``layers.plans`` keeps plans in the store; ``LayerRegistry.with_plan`` gives the
catalogue's layers the targets of one plan. ``layers/data/plans/2025.json`` is the 2025 seed plan.
"""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from layers.errors import UnknownPlan
from layers.models import Target

COUNTY_CODES = ("430302", "430304", "430321", "430381", "430382")
"""Xiangtan's county-level divisions (GB/T 2260)."""

SEED_YEAR = 2025
PlanStatus = Literal["draft", "active", "closed"]
ReviewMode = Literal["required", "none"]


class PlanTarget(BaseModel):
    """One target of a plan: its layer, value, how features count, the quoted sentence, due date and quotas.

    ``measure``: ``count`` (each done project counts 1), ``sum`` (done projects add ``field``, e.g.
    ``area_mu``) or ``compliant`` (sections whose status is ``compliant``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    layer: str = Field(min_length=1, description="Layer id, e.g. farmland")
    quote_zh: str = Field(min_length=1, max_length=500, description="The plan's sentence, quoted")
    value: float = Field(gt=0, description="The city target, in `unit_zh`")
    unit_zh: str = Field(min_length=1, max_length=20)
    unit_en: str = Field(min_length=1, max_length=40)
    measure: Literal["count", "sum", "compliant"] = "count"
    field: str | None = Field(default=None, description="Summed field for `sum` targets")
    done_statuses: tuple[str, ...] = Field(default=("completed",), min_length=1)
    due: date = Field(description="Due date of the target")
    secondary: dict[str, str] = Field(default_factory=dict, description="Further sums: field -> Chinese label")
    quotas: dict[str, float] = Field(default_factory=dict, description="County adcode -> the county's share")

    @field_validator("quotas")
    @classmethod
    def _quotas(cls, quotas: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(quotas) - set(COUNTY_CODES))
        if unknown:
            raise ValueError(f"quota for unknown county {unknown}; Xiangtan's are {list(COUNTY_CODES)}")
        negative = sorted(c for c, v in quotas.items() if v < 0)
        if negative:
            raise ValueError(f"negative quota for county {negative}")
        return quotas

    @model_validator(mode="after")
    def _measure(self) -> PlanTarget:
        if self.measure == "sum" and not self.field:
            raise ValueError(f"target for {self.layer!r} sums a field: give `field`")
        if self.measure == "compliant" and self.done_statuses == ("completed",):
            object.__setattr__(self, "done_statuses", ("compliant",))
        return self

    @property
    def quota_sum(self) -> float:
        """Return the sum of the county quotas."""
        return float(sum(self.quotas.values()))

    def as_layer_target(self) -> Target:
        """Return the target in the form the progress code reads (``Layer.target``)."""
        return Target(
            quote_zh=self.quote_zh,
            value=self.value,
            unit_zh=self.unit_zh,
            unit_en=self.unit_en,
            measure="sum" if self.measure == "sum" else "count",
            field=self.field,
            done_statuses=self.done_statuses,
            deadline=self.due.isoformat(),
            secondary=self.secondary,
            quotas=self.quotas,
        )


class Plan(BaseModel):
    """A plan year: its title, source document, status, light thresholds and targets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int = Field(ge=2000, le=2100)
    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str = Field(default="", max_length=200)
    source_zh: str = Field(default="", max_length=500, description="The document the targets come from")
    status: PlanStatus = "draft"
    quota_note: str = Field(default="", max_length=500, description="Where the county quotas come from")
    lights: dict[str, float] = Field(default_factory=dict, description="序时进度 light thresholds (see /lights)")
    targets: tuple[PlanTarget, ...] = ()
    review: dict[str, ReviewMode] = Field(
        default_factory=dict,
        description="Layer id -> `required` (field reports wait for a planner's approval) or `none` (the default)",
    )

    @model_validator(mode="after")
    def _one_target_per_layer(self) -> Plan:
        layers = [t.layer for t in self.targets]
        twice = sorted({x for x in layers if layers.count(x) > 1})
        if twice:
            raise ValueError(f"more than one target for layer {twice}")
        return self

    def review_required(self, layer_id: str) -> bool:
        """Return whether field reports on the layer wait for a planner's approval before they count."""
        return self.review.get(layer_id, "none") == "required"

    def target(self, layer_id: str) -> PlanTarget | None:
        """Return the plan's target for a layer, or None."""
        return next((t for t in self.targets if t.layer == layer_id), None)


class StoredPlan(BaseModel):
    """A plan as stored: the plan, its version (for If-Match) and who changed it last."""

    model_config = ConfigDict(frozen=True)

    plan: Plan
    version: int
    updated_at: str = ""
    updated_by: str = ""

    @property
    def etag(self) -> str:
        """Return the plan's entity tag."""
        return f'"plan-{self.plan.year}-v{self.version}"'


def seed_plan(year: int = SEED_YEAR) -> Plan:
    """Return the plan shipped with planmap for ``year`` (the 2025 work plan's targets)."""
    path = resources.files("layers").joinpath(f"data/plans/{year}.json")
    if not path.is_file():
        raise UnknownPlan(f"planmap ships no seed plan for {year}")
    return Plan.model_validate(json.loads(path.read_text(encoding="utf-8")))
