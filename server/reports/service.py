"""Making a report: the numbers (``layers.reports``), one map per section, the PDF and the XLSX, archived once."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from geo.mapframe import MapFrame
from geo.storage.base import FeatureStore
from layers.plan_model import StoredPlan
from layers.registry import LayerRegistry
from layers.reports import ArchivedReport, ReportArchive, ReportFiles, ReportRequest, build_report, data_version
from layers.reports import report_layers as target_layers
from layers.reports.build import BuiltReport, OnStep
from layers.reports.maps import draw_map, extent, light_overlay, status_overlay
from server.reports.pdf import report_pdf
from server.reports.xlsx import report_xlsx

MAP_MM = (180.0, 120.0)
"""A section map's size on the A4 page; at 150 dpi it is 1063 px wide."""


def section_maps(store: FeatureStore, registry: LayerRegistry, built: BuiltReport) -> dict[str, bytes]:
    """Return one PNG per section: the city (or the county) with the section's projects by light or status."""
    county = built.data.request.county
    frame = MapFrame.fit(extent(store, county), *MAP_MM)
    maps = {}
    for section in built.data.sections:
        features = built.frames[section.layer]
        overlay = (
            light_overlay(features)
            if section.lights is not None
            else status_overlay(registry.get(section.layer), features)
        )
        maps[section.layer] = draw_map(store, frame, [overlay], county)
    return maps


def render_report(
    store: FeatureStore,
    registry: LayerRegistry,
    plan: StoredPlan,
    request: ReportRequest,
    version: str,
    generated_at: datetime,
    on_step: OnStep | None = None,
) -> ReportFiles:
    """Build the report's numbers and render them as PDF and XLSX."""
    built = build_report(store, registry, plan, request, version=version, generated_at=generated_at, on_step=on_step)
    maps = section_maps(store, registry.with_plan(plan.plan), built)
    return ReportFiles({"pdf": report_pdf(built.data, maps), "xlsx": report_xlsx(built.data)})


def make_report(
    store: FeatureStore,
    registry: LayerRegistry,
    plan: StoredPlan,
    request: ReportRequest,
    root: Path,
    author: str,
    on_step: OnStep | None = None,
) -> ArchivedReport:
    """Return the archived report of ``request`` at the current data version, building and archiving it if needed."""
    version = data_version(store, plan, target_layers(registry.with_plan(plan.plan)))
    archive = ReportArchive(store, root)

    def build(generated_at: datetime) -> ReportFiles:
        return render_report(store, registry, plan, request, version, generated_at, on_step)

    return archive.obtain(request, version, build, author)
