"""Weekly and monthly reports (周报/月报) as data: the numbers both the PDF and the XLSX print, and their archive."""

from layers.reports.archive import ArchivedReport, ReportArchive, ReportFiles
from layers.reports.build import build_report, report_layers
from layers.reports.model import (
    REPORT_KINDS,
    CountyRow,
    DeadlineRow,
    ProjectRow,
    ReportData,
    ReportRequest,
    TargetSection,
    figure,
)
from layers.reports.version import data_version

__all__ = [
    "REPORT_KINDS",
    "ArchivedReport",
    "CountyRow",
    "DeadlineRow",
    "ProjectRow",
    "ReportArchive",
    "ReportData",
    "ReportFiles",
    "ReportRequest",
    "TargetSection",
    "build_report",
    "data_version",
    "figure",
    "report_layers",
]
