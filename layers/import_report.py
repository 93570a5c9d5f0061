"""What an import was asked to do and what it did: options, per-row problems and the report."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from geo.complexity import ReadLimits
from geo.types import CoordSys
from geo.zipsafe import ZipLimits
from layers.import_mapping import ImportMapping

ImportMode = Literal["replace", "upsert"]
ImportStatus = Literal["applied", "dry_run", "rejected"]
OnInvalid = Literal["reject", "skip", "clip"]
MAX_LISTED = 500
"""Most problems, repairs and ids listed in a report (the totals are always given)."""
REMOVE_SHARE = 0.1
"""A ``replace`` import may remove up to this share of the stored features; more needs ``allow_remove``."""


@dataclass(frozen=True)
class ImportOptions:
    """How to import a file.

    Attributes
    ----------
    mode : ``replace`` the layer (features absent from the file are removed) or ``upsert`` by id.
    dry_run : report what would change without writing.
    mapping : the mapping file's object (see :mod:`layers.import_mapping`): ``source column -> field``
        (None ignores the column) or ``field -> rule`` (column, value mapping, date format, area unit or
        a constant). Other columns are matched by field name or by the field's Chinese or English alias.
    coordsys : ``gcj02`` or ``bd09`` when lon/lat come from AMap/Tencent or Baidu; ``wgs84`` otherwise.
    source : the ``source`` recorded on every imported feature (default: the file name).
    encoding : text encoding of the attributes when the file does not say (shapefile .cpg, CSV sniffing).
    file_layer : which layer or zip member to read when the file holds several.
    file_name : the file's original name, for the report and the default source.
    author : recorded on the history entries the import appends.
    repair : repair invalid geometries (``shapely.make_valid``) instead of rejecting them.
    today : the date of history entries for features without an update or completion date.
    allow_remove : how many stored features a ``replace`` may remove (default: ``REMOVE_SHARE`` of them).
    on_invalid : ``reject`` the whole file when a row has a problem, or ``skip`` such rows (each listed
        in the report with its reasons; a stored feature with a skipped row's id is left as it is), or
        ``clip`` geometries crossing the city edge to the city (each listed in ``clipped``), skipping rows
        wholly outside it and rows with other problems as ``skip`` does.
    zip_limits : entry, member, ratio and size limits for zip archives.
    read_limits : most features, vertices per feature and vertices in all.
    """

    mode: ImportMode = "replace"
    dry_run: bool = False
    mapping: Mapping[str, Any] | ImportMapping | None = None
    coordsys: CoordSys = "wgs84"
    source: str | None = None
    encoding: str | None = None
    file_layer: str | None = None
    file_name: str | None = None
    author: str = "import"
    repair: bool = True
    today: date | None = None
    allow_remove: int | None = None
    on_invalid: OnInvalid = "reject"
    zip_limits: ZipLimits = field(default_factory=ZipLimits)
    read_limits: ReadLimits = field(default_factory=ReadLimits)


class ClippedRow(BaseModel):
    """A row whose geometry crossed the city edge and was clipped to the city (``on_invalid=clip``)."""

    row: int = Field(description="1-based record number in the file")
    id: str | None = None
    area_mu_before: float | None = Field(None, description="geodesic area before clipping (polygon layers)")
    area_mu_after: float | None = Field(None, description="geodesic area after clipping (polygon layers)")
    location: str | None = None


class RowIssue(BaseModel):
    """One problem or repair: the 1-based record number in the file, the feature id and the column."""

    row: int | None = None
    id: str | None = None
    column: str | None = None
    problem: str
    location: str | None = Field(None, description="where the row is in a workbook: <sheet>!<Excel row number>")


def _at(issue: RowIssue) -> str:
    return f" ({issue.location})" if issue.location else ""


def _mu(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class ImportReport(BaseModel):
    """The outcome of an import (or of a dry run, or of a rejected file)."""

    layer: str
    status: ImportStatus = "rejected"
    mode: ImportMode = "replace"
    file_name: str | None = None
    file_format: str | None = None
    rows: int = 0
    crs: str | None = Field(None, description="CRS of the file's coordinates")
    crs_source: Literal["file", "inferred"] | None = Field(None, description="read from the file or inferred")
    coordsys: str = "wgs84"
    encoding: str | None = None
    mapping: dict[str, str] = Field(default_factory=dict, description="source column -> layer field")
    rules: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="field -> the mapping's rule (column, values, format, unit or value)"
    )
    ignored_columns: list[str] = Field(default_factory=list)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    ids: dict[str, list[str]] = Field(default_factory=dict, description="added/updated/removed ids (capped)")
    history_entries: int = Field(0, description="progress-history entries appended for status changes")
    repairs: list[RowIssue] = Field(default_factory=list)
    repairs_total: int = 0
    warnings: list[str] = Field(default_factory=list)
    problems: list[RowIssue] = Field(default_factory=list)
    problems_total: int = 0
    skipped: list[RowIssue] = Field(default_factory=list, description="on_invalid=skip: the reasons rows were left out")
    skipped_rows: int = Field(0, description="how many rows were left out")
    clipped: list[ClippedRow] = Field(
        default_factory=list, description="on_invalid=clip: every row clipped to the city, with its areas"
    )
    version_before: str | None = None
    version_after: str | None = None
    _origins: list[str] | None = PrivateAttr(default=None)
    _every_skipped: list[tuple[int, str | None, str]] = PrivateAttr(default_factory=list)
    _make_issues: Callable[[list[tuple[int, str | None, str]]], list[RowIssue]] | None = PrivateAttr(default=None)

    def locate_rows(self, origins: list[str] | None) -> None:
        """Name, on every row issue added from now on, where its row is in the file (a workbook's sheet and row)."""
        self._origins = origins

    def _located(self, issues: list[RowIssue]) -> list[RowIssue]:
        origins = self._origins
        if origins:
            for issue in issues:
                if issue.row is not None and 0 < issue.row <= len(origins):
                    issue.location = origins[issue.row - 1]
        return issues

    def add_problems(self, issues: list[RowIssue], total: int | None = None) -> None:
        """Add problems, keeping at most ``MAX_LISTED`` listed; ``total`` counts them when not all are given."""
        issues = self._located(issues)
        self.problems_total += len(issues) if total is None else total
        self.problems.extend(issues[: max(0, MAX_LISTED - len(self.problems))])

    def add_skipped(
        self,
        issues: list[RowIssue],
        rows: int,
        every: list[tuple[int, str | None, str]] | None = None,
        make: Callable[[list[tuple[int, str | None, str]]], list[RowIssue]] | None = None,
    ) -> None:
        """Add the problems of ``rows`` skipped rows, keeping at most ``MAX_LISTED`` listed.

        ``every`` holds all of them as (0-based row, column, problem) and ``make`` turns a slice of those into
        issues: ``every_skipped`` lists them all (for the skipped-rows file) without building a million objects
        in the report.
        """
        issues = self._located(issues)
        self.skipped_rows += rows
        self.skipped.extend(issues[: max(0, MAX_LISTED - len(self.skipped))])
        if every is not None and make is not None:
            self._every_skipped, self._make_issues = every, make

    def every_skipped(self, block: int = 10_000) -> Iterator[RowIssue]:
        """Yield every skipped row's problem (not only the listed ones), in row order, located in the file."""
        if self._make_issues is None:
            yield from self.skipped
            return
        for start in range(0, len(self._every_skipped), block):
            yield from self._located(self._make_issues(self._every_skipped[start : start + block]))

    def add_clipped(self, rows: list[ClippedRow]) -> None:
        """Add clipped rows (every one is listed)."""
        origins = self._origins
        for row in rows:
            if origins and 0 < row.row <= len(origins):
                row.location = origins[row.row - 1]
        self.clipped.extend(rows)

    def add_repairs(self, issues: list[RowIssue]) -> None:
        """Add repairs, keeping at most ``MAX_LISTED`` listed."""
        issues = self._located(issues)
        self.repairs_total += len(issues)
        self.repairs.extend(issues[: max(0, MAX_LISTED - len(self.repairs))])

    def summary(self) -> str:
        """Return a few human-readable lines (for the command line)."""
        head = f"{self.status}: {self.layer} ({self.mode}) from {self.file_name or 'file'}"
        lines = [head, f"  format {self.file_format}, {self.rows} rows, CRS {self.crs} ({self.crs_source})"]
        lines.append(
            f"  added {self.added}, updated {self.updated}, unchanged {self.unchanged}, removed {self.removed}"
        )
        lines.append(f"  repairs {self.repairs_total}, history entries {self.history_entries}")
        lines += [f"  skipped {self.skipped_rows} row(s)"] if self.skipped_rows else []
        lines += [f"  clipped {len(self.clipped)} row(s) to the city"] if self.clipped else []
        lines += [f"  mapping: {c} -> {f}" for c, f in self.mapping.items()]
        lines += [f"  rule: {f} {json.dumps(r, ensure_ascii=False, default=str)}" for f, r in self.rules.items()]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  repair: row {r.row}{_at(r)} id {r.id} [{r.column}] {r.problem}" for r in self.repairs]
        lines += [
            f"  clipped: row {c.row} id {c.id} area {_mu(c.area_mu_before)} -> {_mu(c.area_mu_after)} mu"
            for c in self.clipped
        ]
        lines += [f"  skipped: row {p.row}{_at(p)} id {p.id} [{p.column}] {p.problem}" for p in self.skipped]
        lines += [f"  problem: row {p.row}{_at(p)} id {p.id} [{p.column}] {p.problem}" for p in self.problems]
        return "\n".join(lines)
