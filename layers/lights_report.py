"""The lights report of a plan year: per-project lights, counts per layer and county, and 投资完成率.

Investment (万元, to 0.01): a project's annual plan is ``investment_plan_wan[str(year)]`` (a project
without one adds nothing to the plan); what it completed in the year is its cumulative investment
(the latest report's ``data.investment_done_wan``) on ``as_of`` minus that on 31 December of the year
before (no report: 0). The rate is completed / plan × 100; the year's time progress is the days of the
year behind ``as_of`` / the days in the year × 100. Rates and points are rounded to 0.1, and the
sentence offices write compares the rounded figures, so it always agrees with the numbers printed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

import geopandas as gpd

from geo.storage.base import FeatureStore
from layers.boundaries import county_name
from layers.errors import InvalidProgressQuery, UnknownCounty
from layers.lights import LIGHT_COLUMNS, LIGHTS, LightRules, has_lights, project_lights
from layers.models import Layer
from layers.plan_model import COUNTY_CODES
from layers.plan_scope import plan_filter
from layers.progress_model import INVESTMENT_DONE
from layers.registry import LayerRegistry

PLAN_INVESTMENT = "investment_plan_wan"
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
"""The days lights can be asked for (the plan years planmap accepts)."""


class LightCounts(BaseModel):
    """How many projects have each light (``unscheduled``: no due date, no light)."""

    model_config = ConfigDict(frozen=True)

    green: int = 0
    yellow: int = 0
    red: int = 0
    unscheduled: int = 0
    done_late: int = Field(default=0, description="Of these, projects done after their due date")
    projects: int = 0


class Investment(BaseModel):
    """Investment of the plan year: annual plan, completed in the year, rate and time progress (万元, %)."""

    model_config = ConfigDict(frozen=True)

    plan_wan: float = Field(description="Σ the projects' annual plans for the year (万元)")
    done_wan: float = Field(description="Σ investment completed in the year up to as_of (万元)")
    rate_pct: float | None = Field(description="done / plan × 100 (None without a plan)")
    time_pct: float = Field(description="Share of the year behind as_of, in percent")
    ahead_pts: float | None = Field(description="rate − time progress, in points (negative: behind)")
    unplanned_projects: int = Field(description="Projects of the year without an annual plan figure")
    sentence: str = Field(description="The figures as offices write them")


class LightsSummary(BaseModel):
    """Lights of one scope (the city, a county or a layer), with its investment for planners."""

    model_config = ConfigDict(frozen=True)

    scope: str = Field(description="`city`, a county adcode or a layer id")
    name: str = Field(description="Chinese name of the scope")
    counts: LightCounts
    investment: Investment | None = None


class LightsReport(BaseModel):
    """The lights of a plan year on a day: the city, each county and layer, and every project."""

    model_config = ConfigDict(frozen=True)

    plan: int
    as_of: date
    rules: LightRules
    time_pct: float = Field(description="Share of the plan year behind as_of, in percent")
    city: LightsSummary
    counties: list[LightsSummary]
    layers: list[LightsSummary]
    projects: list[dict[str, Any]]


def year_time_pct(year: int, as_of: date) -> float:
    """Return the share of ``year`` behind ``as_of`` in percent, 0.1 precision (30 June 2025: 180/365 = 49.3)."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    days = (last - first).days + 1
    return round(min(max((as_of - first).days, 0), days) * 100.0 / days, 1)


def _wan(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def investment_sentence(done_wan: float, rate_pct: float | None, time_pct: float) -> str:
    """Return "累计完成投资 X 万元，占年度计划 Y%，超过/落后时间进度 Z 个百分点" (超过 when Y >= time progress).

    Examples
    --------
    >>> investment_sentence(1234.5, 48.26, 49.3)
    '累计完成投资 1234.5 万元，占年度计划 48.3%，落后时间进度 1.0 个百分点'
    """
    if rate_pct is None:
        return f"累计完成投资 {_wan(done_wan)} 万元，未填报年度计划投资"
    rate = round(rate_pct, 1)
    word = "超过" if rate >= time_pct else "落后"
    gap = abs(rate - time_pct)
    return f"累计完成投资 {_wan(done_wan)} 万元，占年度计划 {rate:.1f}%，{word}时间进度 {gap:.1f} 个百分点"


def _investment_reports(history: pd.DataFrame) -> pd.DataFrame:
    """Return the history rows carrying a cumulative investment, with it as column ``cum`` (oldest first)."""
    data = history["data"] if "data" in history else pd.Series(dtype=object)
    docs = [json.loads(v) if isinstance(v, str) and v else (v if isinstance(v, dict) else {}) for v in data]
    cum = pd.to_numeric(pd.Series([d.get(INVESTMENT_DONE) for d in docs], index=history.index), errors="coerce")
    return history.assign(cum=cum)[cum.notna()]


def cumulative_on(reports: pd.DataFrame, ids: pd.Series, day: date) -> pd.Series:
    """Return each project's cumulative investment on ``day`` from :func:`_investment_reports` rows (0 without)."""
    rows = reports[reports["date"].astype(str) <= day.isoformat()]
    latest = rows.drop_duplicates("feature_id", keep="last").set_index("feature_id")["cum"]
    return ids.astype(str).map(latest).fillna(0.0).astype(float)


def _annual_plan(values: pd.Series, year: int) -> pd.Series:
    def one(value: Any) -> float | None:
        doc = json.loads(value) if isinstance(value, str) and value else value
        figure = doc.get(str(year)) if isinstance(doc, dict) else None
        return None if figure is None else float(figure)

    return pd.Series([one(v) for v in values], index=values.index, dtype=float)


def year_investment(frame: pd.DataFrame, history: pd.DataFrame, year: int, as_of: date) -> pd.DataFrame:
    """Return each project's ``plan_year_wan`` (NaN without one) and ``done_year_wan`` for the plan year."""
    reports = _investment_reports(history)
    ids = frame["id"].astype(str)
    done = cumulative_on(reports, ids, as_of) - cumulative_on(reports, ids, date(year - 1, 12, 31))
    plan = (
        _annual_plan(frame[PLAN_INVESTMENT], year) if PLAN_INVESTMENT in frame else pd.Series(float("nan"), ids.index)
    )
    return pd.DataFrame({"plan_year_wan": plan, "done_year_wan": done}, index=frame.index)


def summarise_investment(rows: pd.DataFrame, year: int, as_of: date) -> Investment:
    """Sum the year's investment over project rows (from :func:`year_investment`) into an :class:`Investment`."""
    plan = round(float(rows["plan_year_wan"].sum()), 2) if len(rows) else 0.0
    done = round(float(rows["done_year_wan"].sum()), 2) if len(rows) else 0.0
    time_pct = year_time_pct(year, as_of)
    rate = round(100.0 * done / plan, 1) if plan > 0 else None
    return Investment(
        plan_wan=plan,
        done_wan=done,
        rate_pct=rate,
        time_pct=time_pct,
        ahead_pts=None if rate is None else round(rate - time_pct, 1),
        unplanned_projects=int(rows["plan_year_wan"].isna().sum()) if len(rows) else 0,
        sentence=investment_sentence(done, rate, time_pct),
    )


def count_lights(rows: pd.DataFrame) -> LightCounts:
    """Count the lights of project rows (from :func:`layers.lights.project_lights`)."""
    counts = rows["light"].value_counts() if len(rows) else pd.Series(dtype=int)
    return LightCounts(
        **{light: int(counts.get(light, 0)) for light in LIGHTS},
        unscheduled=int(rows["light"].isna().sum()) if len(rows) else 0,
        done_late=int(rows["done_late"].sum()) if len(rows) else 0,
        projects=len(rows),
    )


def check_query(layers: Sequence[Layer], as_of: date, county: str | None) -> None:
    """Check a lights query: layers with schedules, a day in 2000..2100 and a known county.

    Raises
    ------
    InvalidProgressQuery
        For a layer without schedules (context layers, monitored water sections) or a day out of range.
    UnknownCounty
        For a county that is not one of Xiangtan's.
    """
    unscheduled = [layer.id for layer in layers if not has_lights(layer)]
    if unscheduled:
        raise InvalidProgressQuery(f"layer {unscheduled} has no schedules to light: it is context or monitored")
    if not EARLIEST <= as_of <= LATEST:
        raise InvalidProgressQuery(f"as_of must lie between {EARLIEST} and {LATEST}, got {as_of}")
    if county is not None and county not in COUNTY_CODES:
        raise UnknownCounty(f"unknown county {county!r}; Xiangtan's are {list(COUNTY_CODES)}")


def layer_rows(
    store: FeatureStore, layer: Layer, year: int, as_of: date, rules: LightRules, investment: bool
) -> gpd.GeoDataFrame:
    """Return the lights (and with ``investment`` the year's figures) of the layer's projects of plan ``year``,
    with their geometries."""
    columns = [c for c in (*LIGHT_COLUMNS, PLAN_INVESTMENT) if c in layer.field_names]
    features = store.read(layer.id, plan_filter(layer, year), columns=columns)
    frame = pd.DataFrame(features.drop(columns=features.geometry.name))
    history = store.history(layer.id, until=as_of)
    rows = project_lights(frame, layer, history, as_of, year, rules)
    rows.insert(0, "layer", layer.id)
    if investment:
        rows = rows.join(year_investment(frame, history, year, as_of))
    return gpd.GeoDataFrame(rows, geometry=features.geometry.to_numpy(), crs=features.crs)


def _summary(rows: pd.DataFrame, scope: str, name: str, year: int, as_of: date, investment: bool) -> LightsSummary:
    money = summarise_investment(rows, year, as_of) if investment else None
    return LightsSummary(scope=scope, name=name, counts=count_lights(rows), investment=money)


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    out = pd.DataFrame(rows).drop(columns=[c for c in ("county_name", "geometry") if c in rows]).astype(object)
    out = out.where(out.notna(), None)
    return [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()} for r in out.to_dict("records")]


def all_rows(
    store: FeatureStore, layers: Sequence[Layer], year: int, as_of: date, rules: LightRules, investment: bool
) -> gpd.GeoDataFrame:
    """Return the rows of :func:`layer_rows` of every layer in one frame (checked with :func:`check_query`)."""
    check_query(layers, as_of, None)
    parts = [layer_rows(store, layer, year, as_of, rules, investment) for layer in layers]
    if not parts:
        return gpd.GeoDataFrame({"layer": [], "county": [], "light": [], "done_late": []}, geometry=[], crs=4326)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=parts[0].crs)


def lights_report(
    store: FeatureStore,
    layers: Sequence[Layer],
    year: int,
    as_of: date,
    rules: LightRules,
    *,
    county: str | None = None,
    investment: bool = False,
) -> LightsReport:
    """Return the lights of plan ``year`` on ``as_of`` across ``layers`` (only projects of that plan year).

    ``city`` always covers the whole city; with ``county`` the counties, layers and projects are that
    county's. Investment figures are included only with ``investment`` (they are not public).

    Raises
    ------
    InvalidProgressQuery, UnknownCounty
        See :func:`check_query`.
    """
    check_query(layers, as_of, county)
    rows = all_rows(store, layers, year, as_of, rules, investment)
    city = _summary(rows, "city", "湘潭市", year, as_of, investment)
    mine = rows if county is None else rows[rows["county"] == county]
    counties = [
        _summary(mine[mine["county"] == code], code, county_name(code), year, as_of, investment)
        for code in COUNTY_CODES
        if county is None or code == county
    ]
    by_layer = [
        _summary(mine[mine["layer"] == layer.id], layer.id, layer.title_zh, year, as_of, investment) for layer in layers
    ]
    return LightsReport(
        plan=year,
        as_of=as_of,
        rules=rules,
        time_pct=year_time_pct(year, as_of),
        city=city,
        counties=counties,
        layers=by_layer,
        projects=_records(mine),
    )


def light_layers(registry: LayerRegistry, layer_id: str | None = None) -> list[Layer]:
    """Return the layer ``layer_id`` (``UnknownLayer`` when there is none), else every layer with schedules."""
    if layer_id:
        return [registry.get(layer_id)]
    return [layer for layer in registry.projects() if has_lights(layer)]


def lights_frame(
    store: FeatureStore,
    layers: Sequence[Layer],
    year: int,
    as_of: date,
    rules: LightRules,
    *,
    county: str | None = None,
    investment: bool = False,
) -> gpd.GeoDataFrame:
    """Return the project rows of :func:`lights_report` with their geometries (for maps)."""
    check_query(layers, as_of, county)
    rows = all_rows(store, layers, year, as_of, rules, investment)
    return rows if county is None else rows[rows["county"] == county]
