"""The report archive: each report built once per data version, its files kept, fetchable again exactly.

One store record (kind ``report``) per (kind, plan, as_of, county, data version), created once with
``put_record``'s create-only semantics: the worker whose create succeeds builds the report while the
record says ``building``; any other worker asking for the same report waits for ``ready`` and serves
the same files. A claim left by a worker that died is taken over after ``stale_after_s``; a build that
fails removes its claim so the next request tries again. Files live in one directory
(``<data_dir>/reports``), named by the record key, written aside and moved in place; the record holds
their SHA-256 so a changed or missing file is noticed.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from geo.errors import RecordExists, StaleVersion, UnknownRecord
from geo.storage.base import FeatureStore, StoredRecord
from layers.errors import ReportUnavailable
from layers.reports.model import ReportRequest

KIND = "report"
FORMATS = ("pdf", "xlsx")


@dataclass(frozen=True)
class ReportFiles:
    """The rendered files of one report: format -> bytes."""

    files: dict[str, bytes]


@dataclass(frozen=True)
class ArchivedReport:
    """An archived report: its record key, request, data version, generation time and files (name, size, hash)."""

    id: str
    request: ReportRequest
    data_version: str
    generated_at: datetime
    files: dict[str, dict[str, Any]]
    author: str

    def path(self, root: Path, fmt: str) -> Path:
        """Return where the file of ``fmt`` is kept under ``root``."""
        return root / self.files[fmt]["name"]


Builder = Callable[[datetime], ReportFiles]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _archived(record: StoredRecord) -> ArchivedReport:
    doc = record.doc
    return ArchivedReport(
        id=record.key,
        request=ReportRequest.model_validate(doc["request"]),
        data_version=doc["data_version"],
        generated_at=datetime.fromisoformat(doc["generated_at"]),
        files=doc["files"],
        author=doc.get("author", ""),
    )


class ReportArchive:
    """Archived reports in a store (records) and a directory (files)."""

    def __init__(self, store: FeatureStore, root: Path, stale_after_s: float = 600.0, wait_s: float = 120.0) -> None:
        self.store = store
        self.root = root
        self.stale_after_s = stale_after_s
        self.wait_s = wait_s

    @staticmethod
    def key(request: ReportRequest, version: str) -> str:
        """Return the record key of a report: its request and data version."""
        return f"{request.key}-{version}"

    def list(self) -> list[ArchivedReport]:
        """Return the ready reports, newest generation first."""
        ready = [_archived(r) for r in self.store.records(KIND) if r.doc.get("status") == "ready"]
        return sorted(ready, key=lambda a: (a.generated_at, a.id), reverse=True)

    def get(self, report_id: str) -> ArchivedReport:
        """Return a ready report; ``UnknownRecord`` (404) when there is none of that id."""
        record = self.store.record(KIND, report_id)
        if record is None or record.doc.get("status") != "ready":
            raise UnknownRecord(f"no archived report {report_id!r}")
        return _archived(record)

    def read(self, report: ArchivedReport, fmt: str) -> bytes:
        """Return an archived file's bytes, checked against the hash recorded when it was built."""
        if fmt not in report.files:
            raise UnknownRecord(f"report {report.id!r} has no {fmt} file; it has {sorted(report.files)}")
        try:
            data = report.path(self.root, fmt).read_bytes()
        except OSError as exc:
            raise ReportUnavailable(f"the {fmt} file of report {report.id!r} cannot be read: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != report.files[fmt]["sha256"]:
            raise ReportUnavailable(f"the {fmt} file of report {report.id!r} was changed after it was archived")
        return data

    def obtain(self, request: ReportRequest, version: str, build: Builder, author: str) -> ArchivedReport:
        """Return the archived report of ``request`` at ``version``, building it here when no one has.

        Raises
        ------
        ReportUnavailable
            When another worker is still building it after ``wait_s`` seconds.
        """
        key = self.key(request, version)
        deadline = time.monotonic() + self.wait_s
        while True:
            record = self.store.record(KIND, key)
            if record is not None and record.doc.get("status") == "ready":
                return _archived(record)
            claimed = self._claim(key, record, request, version, author)
            if claimed is not None:
                return self._build(key, claimed, request, version, build, author)
            if time.monotonic() > deadline:
                raise ReportUnavailable(f"report {key} is being built by another worker; try again shortly")
            time.sleep(0.25)

    def _claim(
        self, key: str, record: StoredRecord | None, request: ReportRequest, version: str, author: str
    ) -> StoredRecord | None:
        """Claim the build (create the record, or take over a stale claim); None when another worker has it."""
        doc = {
            "status": "building",
            "request": request.model_dump(mode="json"),
            "data_version": version,
            "generated_at": _now().isoformat(),
            "author": author,
            "files": {},
        }
        try:
            if record is None:
                return self.store.put_record(KIND, key, doc, expected_version=None, author=author)
            age = (_now() - datetime.fromisoformat(record.doc["generated_at"])).total_seconds()
            if age > self.stale_after_s:
                return self.store.put_record(KIND, key, doc, expected_version=record.version, author=author)
        except (RecordExists, StaleVersion, UnknownRecord):
            pass
        return None

    def _build(
        self, key: str, claim: StoredRecord, request: ReportRequest, version: str, build: Builder, author: str
    ) -> ArchivedReport:
        generated = datetime.fromisoformat(claim.doc["generated_at"])
        try:
            made = build(generated)
            files = {fmt: self._write(f"{key}.{fmt}", data) for fmt, data in made.files.items()}
        except BaseException:
            self.store.delete_record(KIND, key, expected_version=claim.version, author=author)
            raise
        doc = {**claim.doc, "status": "ready", "files": files}
        return _archived(self.store.put_record(KIND, key, doc, expected_version=claim.version, author=author))

    def _write(self, name: str, data: bytes) -> dict[str, Any]:
        self.root.mkdir(parents=True, exist_ok=True)
        aside = self.root / f".{name}.{os.getpid()}.tmp"
        aside.write_bytes(data)
        os.replace(aside, self.root / name)
        return {"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
