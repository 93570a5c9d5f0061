"""Build a report's numbers: for each target of the plan, progress, counties, lights, burn-up and lists.

Every figure comes from the same functions as the API: ``done`` of a section is what
``/progress?plan=&as_of=`` reports (the history replayed to ``as_of`` over the plan year's projects),
county rows are compared with their quotas, lights are those of ``/lights``. A county report keeps
only that county's projects and compares the county's figures with its quota.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd

import geopandas as gpd

from geo.storage.base import FeatureStore
from layers.boundaries import county_name
from layers.deadlines import layer_deadlines
from layers.errors import InvalidProgressQuery
from layers.lights import LightRules, has_lights, rules_of
from layers.lights_report import count_lights, layer_rows, summarise_investment, year_time_pct
from layers.models import Layer
from layers.plan_model import StoredPlan
from layers.plan_scope import plan_filter
from layers.progress import feature_frame, summarise, with_state
from layers.registry import LayerRegistry
from layers.reports.model import REPORT_KINDS, CountyRow, ProjectRow, ReportData, ReportRequest
from layers.reports.model import TargetSection as Section
from layers.reports.rows import deadline_rows, project_rows
from layers.timeline import month_ends

OnStep = Callable[[str, int, int], None]


@dataclass
class BuiltReport:
    """A report's data and, per layer, the projects with their geometries (for its maps)."""

    data: ReportData
    frames: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)


def report_layers(registry: LayerRegistry) -> list[Layer]:
    """Return the layers a report has a section for: the project layers with a target, in catalogue order."""
    return [layer for layer in registry.projects() if layer.target]


def _check_day(request: ReportRequest) -> None:
    if request.as_of.year != request.plan:
        raise InvalidProgressQuery(
            f"as_of {request.as_of} is outside plan year {request.plan}: a report covers a day of its plan year"
        )


def _burnup(state: pd.DataFrame, layer: Layer, history: pd.DataFrame, as_of: date, basis: float | None) -> list:
    days = [d for d in month_ends(as_of.year) if d < as_of] + [as_of]
    points = []
    for day in days:
        done = summarise(layer, with_state(state, layer, history, day), day).done
        plan = (basis or 0.0) * (day - date(day.year, 1, 1)).days / (date(day.year, 12, 31) - date(day.year, 1, 1)).days
        points.append((f"{day.month}月" if day != as_of else f"{day.month}/{day.day}", done, round(plan, 3)))
    return points


def _counties(layer: Layer, state: pd.DataFrame, as_of: date, county: str | None) -> list[CountyRow]:
    quotas = layer.target.quotas if layer.target else {}
    codes = sorted({*quotas, *state["county"].dropna().astype(str)}) if "county" in state else []
    rows = []
    for code in codes if county is None else [county]:
        p = summarise(layer, state[state["county"] == code], as_of).model_copy(update={"quota": quotas.get(code)})
        rows.append(
            CountyRow(
                code=code,
                name=county_name(code),
                quota=p.quota,
                done=p.done,
                pct_quota=p.pct_quota,
                features=p.features,
                done_features=p.done_features,
                overdue=p.overdue,
            )
        )
    return rows


def _section(
    store: FeatureStore, layer: Layer, request: ReportRequest, rules: LightRules
) -> tuple[Section, gpd.GeoDataFrame, list[ProjectRow], pd.DataFrame]:
    """Return one target's section, its projects' geometries, its project rows and its light rows."""
    where = plan_filter(layer, request.plan)
    frame = feature_frame(store, layer, where)
    if request.county is not None and "county" in frame:
        frame = frame[frame["county"] == request.county].reset_index(drop=True)
    history = store.history(layer.id, until=request.as_of)
    now = with_state(frame, layer, history, request.as_of)
    before = with_state(frame, layer, history, request.period_start - timedelta(days=1))
    headline = summarise(layer, now, request.as_of)
    target = layer.target.value if layer.target else None
    if request.county is not None:
        target = (layer.target.quotas if layer.target else {}).get(request.county)
    lit = has_lights(layer)
    rows = layer_rows(store, layer, request.plan, request.as_of, rules, True) if lit else None
    if rows is not None and request.county is not None:
        rows = rows[rows["county"] == request.county]
    owners = _owners(store, layer, where, rows)
    found = layer_deadlines(store, layer, request.as_of, 30, 80.0, request.plan)
    overdue = [item for kind, item in found if kind == "overdue" and _in(item.county, request.county)]
    projects = project_rows(layer, rows, now) if rows is not None else []
    section = Section(
        layer=layer.id,
        title_zh=layer.title_zh,
        quote_zh=layer.target.quote_zh if layer.target else "",
        unit_zh=layer.target.unit_zh if layer.target else "",
        target=target,
        done=headline.done,
        pct=None if not target else round(100.0 * headline.done / target, 1),
        period_done=headline.done - summarise(layer, before, request.as_of).done,
        features=headline.features,
        done_features=headline.done_features,
        overdue=headline.overdue,
        counties=_counties(layer, now, request.as_of, request.county),
        lights=count_lights(rows) if rows is not None else None,
        burnup=_burnup(frame, layer, history, request.as_of, target),
        red=sorted((p for p in projects if p.light == "red"), key=lambda p: (-(p.lag_pts or 0.0), p.id)),
        overdue_items=deadline_rows(layer, overdue, owners),
    )
    return section, _map_frame(store, layer, where, request.county, rows), projects, rows


def _in(code: str | None, county: str | None) -> bool:
    return county is None or code == county


def _owners(store: FeatureStore, layer: Layer, where: object, rows: pd.DataFrame | None) -> dict[str, str]:
    if rows is not None and "owner" in rows:
        return {str(k): str(v or "") for k, v in zip(rows["id"], rows["owner"], strict=True)}
    if "owner" not in layer.field_names:
        return {}
    frame = store.read(layer.id, where, columns=["id", "owner"])  # type: ignore[arg-type]
    return {str(k): str(v or "") for k, v in zip(frame["id"], frame["owner"], strict=True)}


def _map_frame(
    store: FeatureStore, layer: Layer, where: object, county: str | None, rows: pd.DataFrame | None
) -> gpd.GeoDataFrame:
    """Return the section's projects with geometry and a ``light`` or ``status`` column to colour them by."""
    if rows is not None:
        return gpd.GeoDataFrame(rows[["id", "county", "light", "geometry"]], geometry="geometry")
    columns = [c for c in ("id", "county", "status") if c in layer.field_names]
    frame = store.read(layer.id, where, columns=columns)  # type: ignore[arg-type]
    return frame if county is None or "county" not in frame else frame[frame["county"] == county]


def build_report(
    store: FeatureStore,
    registry: LayerRegistry,
    plan: StoredPlan,
    request: ReportRequest,
    *,
    version: str,
    generated_at: datetime,
    on_step: OnStep | None = None,
) -> BuiltReport:
    """Return the numbers of a weekly or monthly report of ``plan`` on ``request.as_of``.

    Parameters
    ----------
    store : where the projects and their history are read.
    registry : the catalogue (its targets are replaced by the plan's).
    plan : the stored plan; its targets give the sections and its thresholds the lights.
    request : kind, plan year, day and county (checked by :meth:`ReportRequest.parse`).
    version, generated_at : the data version (:func:`layers.reports.data_version`) and generation time printed.
    on_step : called with (label, done, total) after each section, for a progress bar.

    Raises
    ------
    InvalidProgressQuery
        When ``as_of`` is outside the plan year.
    """
    _check_day(request)
    rules = rules_of(plan.plan)
    layers = report_layers(registry.with_plan(plan.plan))
    sections, frames, projects, lit = [], {}, [], []
    for i, layer in enumerate(layers, start=1):
        section, frame, rows, lights = _section(store, layer, request, rules)
        sections.append(section)
        frames[layer.id] = frame
        projects += rows
        lit += [] if lights is None else [lights]
        if on_step:
            on_step(layer.title_zh, i, len(layers))
    everything = pd.concat(lit, ignore_index=True) if lit else pd.DataFrame({"light": [], "done_late": []})
    scope = county_name(request.county) if request.county else "湘潭市"
    data = ReportData(
        request=request,
        title=f"{scope}{plan.plan.year}年重点工作推进{REPORT_KINDS[request.kind]}",
        scope_name=scope,
        plan_title=plan.plan.title_zh,
        plan_source=plan.plan.source_zh,
        period_start=request.period_start,
        data_version=version,
        generated_at=generated_at,
        time_pct=year_time_pct(request.plan, request.as_of),
        lights=count_lights(everything),
        investment=summarise_investment(everything, request.plan, request.as_of) if len(everything) else None,
        sections=sections,
        projects=projects,
    )
    return BuiltReport(data, frames)
