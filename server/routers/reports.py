"""Weekly and monthly reports (周报/月报) as PDF and XLSX, their archive, and print-ready maps (planners)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response

from geo.textlists import split_list
from layers.errors import UnknownPlan
from layers.nearby import resolve_layers
from layers.reports import ArchivedReport, ReportArchive, ReportRequest
from layers.reports.model import check_county
from server.auth import PlannerDep
from server.caching import NO_STORE
from server.deps import PlanDep, RegistryDep, SettingsDep, StoreDep
from server.maps.progress import default_as_of
from server.reports.printmap import Orientation, PageSize, PrintRequest, print_map_pdf
from server.reports.service import make_report
from server.responses import AUTH_RESPONSES, ERROR_RESPONSES, html_response

router = APIRouter(tags=["Reports"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})
Format = Literal["pdf", "xlsx"]
MEDIA = {"pdf": "application/pdf", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
FILES: dict[int | str, dict[str, Any]] = {200: {"content": {m: {} for m in MEDIA.values()}, "description": "The file"}}
PDF: dict[int | str, dict[str, Any]] = {200: {"content": {MEDIA["pdf"]: {}}, "description": "One-page PDF map"}}
ReportId = Annotated[str, Path(description="Archived report id, e.g. monthly-2025-2025-06-30-city-1098f2a5eba7")]


def _file(report: ArchivedReport, fmt: str, data: bytes) -> Response:
    name = f"{report.id}.{fmt}"
    headers = {
        "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "private, max-age=0",
        "X-Report-Id": report.id,
        "X-Data-Version": report.data_version,
        "X-Generated-At": report.generated_at.isoformat(),
    }
    return Response(data, media_type=MEDIA[fmt], headers=headers)


def _summary(report: ArchivedReport) -> dict[str, Any]:
    return {
        "id": report.id,
        **report.request.model_dump(mode="json"),
        "data_version": report.data_version,
        "generated_at": report.generated_at.isoformat(),
        "author": report.author,
        "files": {fmt: {**f, "href": f"/reports/archive/{report.id}.{fmt}"} for fmt, f in report.files.items()},
    }


@router.get(
    "/reports", operation_id="getReportsPage", summary="Reports page: make and download", include_in_schema=False
)
def reports_page(request: Request, store: StoreDep, settings: SettingsDep, who: PlannerDep) -> Response:
    """Return the page listing archived reports with a form to make one."""
    reports = [_summary(r) for r in ReportArchive(store, settings.store.reports).list()]
    response = html_response(request, "reports.html", {"reports": reports, "user": who.user, "today": date.today()})
    response.headers["Cache-Control"] = NO_STORE
    return response


@router.get("/reports/archive", operation_id="getReportArchive", summary="Archived reports, newest first")
def get_archive(store: StoreDep, settings: SettingsDep, who: PlannerDep) -> dict[str, Any]:
    """Return every archived report with its data version, generation time and files."""
    return {"reports": [_summary(r) for r in ReportArchive(store, settings.store.reports).list()]}


@router.get(
    "/reports/archive/{report_id}.{fmt}",
    operation_id="getArchivedReportFile",
    summary="An archived file",
    response_class=Response,
    responses=FILES,
)
def get_archived_file(
    report_id: ReportId, fmt: Format, store: StoreDep, settings: SettingsDep, who: PlannerDep
) -> Response:
    """Return an archived report's PDF or XLSX exactly as it was made."""
    archive = ReportArchive(store, settings.store.reports)
    report = archive.get(report_id)
    return _file(report, fmt, archive.read(report, fmt))


@router.get("/reports/archive/{report_id}", operation_id="getArchivedReport", summary="An archived report's record")
def get_archived(report_id: ReportId, store: StoreDep, settings: SettingsDep, who: PlannerDep) -> dict[str, Any]:
    """Return one archived report's request, data version, generation time and files."""
    return _summary(ReportArchive(store, settings.store.reports).get(report_id))


@router.get(
    "/reports/{kind}.{fmt}",
    operation_id="getReport",
    summary="Weekly or monthly report as PDF or XLSX",
    response_class=Response,
    responses=FILES,
)
def get_report(
    kind: Annotated[str, Path(description="`weekly` (周报) or `monthly` (月报)")],
    fmt: Format,
    plan: PlanDep,
    store: StoreDep,
    registry: RegistryDep,
    settings: SettingsDep,
    who: PlannerDep,
    as_of: Annotated[date | None, Query(description="The report's day (default today, within the plan year)")] = None,
    county: Annotated[str | None, Query(description="One county adcode, e.g. `430321` (default the city)")] = None,
) -> Response:
    """Return the report of the plan on a day; built once per data version and archived, then served from there."""
    if plan is None:
        raise UnknownPlan("no active plan: name one with plan=")
    day = as_of or default_as_of(year=plan.plan.year)
    request = ReportRequest.parse(kind, plan.plan.year, day, county)
    report = make_report(store, registry, plan, request, settings.store.reports, who.user)
    return _file(report, fmt, ReportArchive(store, settings.store.reports).read(report, fmt))


@router.get(
    "/map/print.pdf",
    operation_id="getPrintMap",
    summary="Print-ready map (PDF) with legend and true scale",
    response_class=Response,
    responses=PDF,
)
def get_print_map(
    store: StoreDep,
    registry: RegistryDep,
    settings: SettingsDep,
    plan: PlanDep,
    layers: Annotated[
        str | None, Query(description="Layer ids, comma-separated (default: every project layer)")
    ] = None,
    county: Annotated[str | None, Query(description="One county adcode (default the city)")] = None,
    size: Annotated[PageSize, Query(description="Paper size")] = "A4",
    orientation: Annotated[Orientation, Query(description="Page orientation")] = "landscape",
) -> Response:
    """Return a one-page PDF map: title, legend, scale bar and 1:N, north arrow, source, date and 审图号."""
    chosen = resolve_layers(registry, split_list(layers))
    check_county(county)
    printed = PrintRequest(chosen, county, size, orientation, plan.plan.year if plan else None, date.today())
    data = print_map_pdf(store, printed, settings.maps)
    headers = {"Content-Disposition": 'inline; filename="map.pdf"', "Cache-Control": "private, max-age=0"}
    return Response(data, media_type="application/pdf", headers=headers)
