"""The report's data model: one :class:`ReportData` that the PDF and the XLSX both print."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from layers.errors import InvalidProgressQuery, UnknownCounty
from layers.lights_report import EARLIEST, LATEST, Investment, LightCounts
from layers.plan_model import COUNTY_CODES

ReportKind = Literal["weekly", "monthly"]
REPORT_KINDS: dict[str, str] = {"weekly": "周报", "monthly": "月报"}
"""Report kinds and their Chinese names."""


def figure(value: float | None) -> str:
    """Format a figure as reports print it: thousands separators, at most two decimals, no trailing zeros.

    Examples
    --------
    >>> figure(61234.5), figure(25.0), figure(0.125), figure(None)
    ('61,234.5', '25', '0.13', '-')
    """
    if value is None:
        return "-"
    text = f"{round(value, 2):,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def check_county(county: str | None) -> None:
    """Raise ``UnknownCounty`` naming Xiangtan's counties when ``county`` is not None and not one of them."""
    if county is not None and county not in COUNTY_CODES:
        raise UnknownCounty(f"unknown county {county!r}; Xiangtan's are {list(COUNTY_CODES)}")


class ReportRequest(BaseModel):
    """What a report is of: its kind, plan year, day and (optionally) one county."""

    model_config = ConfigDict(frozen=True)

    kind: ReportKind
    plan: int
    as_of: date
    county: str | None = None

    @classmethod
    def parse(cls, kind: str, plan: int, as_of: date, county: str | None) -> ReportRequest:
        """Check and build a request.

        Raises
        ------
        InvalidProgressQuery
            For an unknown kind or a day outside 2000..2100.
        UnknownCounty
            For a county that is not one of Xiangtan's.
        """
        if kind not in REPORT_KINDS:
            raise InvalidProgressQuery(f"unknown report kind {kind!r}; kinds are {list(REPORT_KINDS)}")
        if not EARLIEST <= as_of <= LATEST:
            raise InvalidProgressQuery(f"as_of must lie between {EARLIEST} and {LATEST}, got {as_of}")
        check_county(county)
        return cls(kind=kind, plan=plan, as_of=as_of, county=county)

    @property
    def period_start(self) -> date:
        """Return the first day of the period: the month's first day (月报) or six days before as_of (周报)."""
        return self.as_of.replace(day=1) if self.kind == "monthly" else self.as_of - timedelta(days=6)

    @property
    def key(self) -> str:
        """Return the request's stable name, e.g. ``monthly-2025-2025-06-30-city``."""
        return f"{self.kind}-{self.plan}-{self.as_of.isoformat()}-{self.county or 'city'}"


class CountyRow(BaseModel):
    """One county's figures for a target: done against its quota (任务分解)."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    quota: float | None
    done: float
    pct_quota: float | None
    features: int
    done_features: int
    overdue: int


class DeadlineRow(BaseModel):
    """One overdue project or milestone, with the unit responsible for it (责任单位)."""

    model_config = ConfigDict(frozen=True)

    layer: str
    layer_title: str
    id: str
    name: str
    county: str
    county_name: str
    owner: str
    milestone: str
    due: date
    days: int
    status: str
    progress_pct: float


class ProjectRow(BaseModel):
    """One project of the plan year on the day: its state, schedule, light and investment (明细)."""

    model_config = ConfigDict(frozen=True)

    layer: str
    layer_title: str
    id: str
    name: str
    county: str
    county_name: str
    owner: str
    status: str
    progress_pct: float | None
    due: date | None
    light: str | None
    lag_pts: float | None
    reason: str
    plan_year_wan: float | None = None
    done_year_wan: float | None = None


class TargetSection(BaseModel):
    """One target of the plan: the headline figures, county table, lights, burn-up and lists."""

    model_config = ConfigDict(frozen=True)

    layer: str
    title_zh: str
    quote_zh: str
    unit_zh: str
    target: float | None = Field(description="The city target, or the county's quota in a county report")
    done: float = Field(description="Done on as_of (as /progress reports it)")
    pct: float | None
    period_done: float = Field(description="Done during the period (本期新增)")
    features: int
    done_features: int
    overdue: int
    counties: list[CountyRow]
    lights: LightCounts | None = Field(description="None for layers without schedules (monitored sections)")
    burnup: list[tuple[str, float, float]] = Field(description="(month, done, plan line) up to as_of")
    red: list[ProjectRow]
    overdue_items: list[DeadlineRow]


class ReportData(BaseModel):
    """A whole report: what it is of, its data version and generation time, and one section per target."""

    model_config = ConfigDict(frozen=True)

    request: ReportRequest
    title: str
    scope_name: str
    plan_title: str
    plan_source: str
    period_start: date
    data_version: str
    generated_at: datetime
    time_pct: float
    lights: LightCounts
    investment: Investment | None
    sections: list[TargetSection]
    projects: list[ProjectRow]

    @property
    def period_text(self) -> str:
        """Return the period in Chinese, e.g. ``2025年6月1日至2025年6月30日``."""
        return f"{_zh_date(self.period_start)}至{_zh_date(self.request.as_of)}"


def _zh_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"
