"""Import jobs of the import page: an uploaded file, its inspection, dry run and commit, kept on disk.

A job is a directory ``<root>/planmap-importjob-<id>`` holding the upload (saved under a name of ours) and
``job.json``: who made it, the target layer, its status (``uploaded`` → ``inspected`` → ``dry_running`` →
``dry_run_done`` → ``committing`` → ``done`` or ``failed``), progress and the reports. The page polls
the job, so a reload finds it again. Dry runs and commits run in one background thread per process, so
imports never run side by side; at most ``MAX_QUEUED`` wait. Jobs unchanged for ``max_age_s`` are
removed (the upload sweep at start-up removes them too, by the same prefix).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geo.errors import GeoError
from geo.storage.base import FeatureStore
from layers.errors import ImportJobConflict, LayerError, UnknownImportJob
from layers.import_report import ImportOptions, ImportReport
from layers.import_zh import every_skipped_csv, report_zh, skipped_csv
from layers.importer import import_file
from layers.models import Layer

logger = logging.getLogger(__name__)

PREFIX = "planmap-importjob-"
JOB_FILE = "job.json"
PREVIEW_FILE = "preview.json"
SKIPPED_FILE = "skipped.csv"
"""Every row the last dry run or commit skipped (the report lists the first 500)."""
MAX_QUEUED = 4
"""Most dry runs and commits waiting for the import thread; more are refused (409)."""
RUNNING = ("dry_running", "committing")
_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class ImportJobs:
    """The jobs under ``root`` and the single thread that runs their dry runs and commits.

    Parameters
    ----------
    root : pathlib.Path
        A planmap-owned directory (the uploads directory); jobs are its ``planmap-importjob-*`` entries.
    max_age_s : float
        Jobs unchanged for longer are removed when a new job is made.
    clock : callable
        Returns the time in seconds (tests may move it).
    """

    root: Path
    max_age_s: float = 3600.0
    clock: Callable[[], float] = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _queued: int = field(default=0, init=False)
    _executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="planmap-import"), init=False
    )

    def directory(self, job_id: str) -> Path:
        """Return the job's directory; refuse ids that are not ours (never a path from the request)."""
        if not _ID.match(job_id):
            raise UnknownImportJob(f"no import job {job_id[:40]!r}")
        return self.root / f"{PREFIX}{job_id}"

    def create(self, user: str, layer: str) -> tuple[dict[str, Any], Path]:
        """Make a new job for ``user`` importing into ``layer``; return it and its (empty) directory."""
        self.sweep()
        job_id = secrets.token_hex(16)
        path = self.directory(job_id)
        path.mkdir(parents=True)
        now = self.clock()
        job = {"id": job_id, "user": user, "layer": layer, "status": "uploaded", "created_at": now, "updated_at": now}
        job |= {"progress": {"done": 0, "total": 0, "phase": "uploaded"}, "file_name": None, "upload": None}
        self._write(path, job)
        return job, path

    def remove(self, job_id: str) -> None:
        """Remove the job and its file."""
        shutil.rmtree(self.directory(job_id), ignore_errors=True)

    def load(self, job_id: str, user: str) -> dict[str, Any]:
        """Return the job; another user's job is as unknown as a missing one."""
        try:
            job: dict[str, Any] = json.loads((self.directory(job_id) / JOB_FILE).read_text("utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            job = {}
        if job.get("user") != user:  # another user's job is as unknown as a missing one
            raise UnknownImportJob(f"no import job {job_id}; it may have been cleaned up: upload the file again")
        return job

    def update(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Change the job's fields (atomically on disk) and return it."""
        with self._lock:
            path = self.directory(job_id)
            job: dict[str, Any] = json.loads((path / JOB_FILE).read_text("utf-8"))
            job.update(changes, updated_at=self.clock())
            self._write(path, job)
            return job

    def _write(self, path: Path, job: dict[str, Any]) -> None:
        tmp = path / f".{JOB_FILE}.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(json.dumps(job, ensure_ascii=False, default=str), "utf-8")
        os.replace(tmp, path / JOB_FILE)

    def upload_path(self, job: dict[str, Any]) -> Path:
        """Return the job's uploaded file."""
        if not job.get("upload"):
            raise ImportJobConflict("the job has no uploaded file")
        return self.directory(job["id"]) / str(job["upload"])

    def save_preview(self, job_id: str, preview: dict[str, Any]) -> None:
        """Keep the preview features beside the job (they can be large; the job's JSON stays small)."""
        (self.directory(job_id) / PREVIEW_FILE).write_text(json.dumps(preview, ensure_ascii=False), "utf-8")

    def preview(self, job: dict[str, Any]) -> dict[str, Any]:
        """Return the job's preview features (as-is and corrected), saved at inspection."""
        try:
            doc: dict[str, Any] = json.loads((self.directory(job["id"]) / PREVIEW_FILE).read_text("utf-8"))
        except FileNotFoundError:
            raise ImportJobConflict("the file was not inspected yet") from None
        return doc

    def sweep(self) -> list[Path]:
        """Remove the jobs unchanged for more than ``max_age_s`` (not those running); return them."""
        if not self.root.is_dir():
            return []
        cutoff = self.clock() - self.max_age_s
        removed = []
        for entry in self.root.glob(f"{PREFIX}*"):
            try:
                job = json.loads((entry / JOB_FILE).read_text("utf-8"))
                stale = job.get("updated_at", 0) < cutoff and job.get("status") not in RUNNING
            except (OSError, json.JSONDecodeError):
                stale = entry.stat().st_mtime < cutoff
            if stale:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        return removed

    def _submit(
        self, job_id: str, allowed: tuple[str, ...], status: str, work: Callable[[], dict[str, Any]], **changes: Any
    ) -> dict[str, Any]:
        """Mark the job ``status`` if it is in an ``allowed`` state and run ``work`` in the import thread."""
        with self._lock:
            current = json.loads((self.directory(job_id) / JOB_FILE).read_text("utf-8"))["status"]
            if current not in allowed:  # checked again here: two clicks must not start two runs
                raise ImportJobConflict(f"the job is {current}; it cannot be {status.replace('_', ' ')} now")
            if self._queued >= MAX_QUEUED:
                raise ImportJobConflict(f"{MAX_QUEUED} imports are waiting already; try again in a moment")
            self._queued += 1

        def run() -> None:
            try:
                self.update(job_id, **work())
            except (GeoError, LayerError) as exc:
                self.update(job_id, status="failed", error=str(exc))
            except Exception as exc:  # the thread must record the failure: nobody else sees it
                logger.exception("import job %s failed", job_id)
                self.update(job_id, status="failed", error=f"internal error: {type(exc).__name__}")
            finally:
                with self._lock:
                    self._queued -= 1

        queued = {"done": 0, "total": 0, "phase": "queued"}
        job = self.update(job_id, status=status, error=None, progress=queued, **changes)
        self._executor.submit(run)
        return job

    def _progress(self, job_id: str, phase: str) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            self.update(job_id, progress={"done": done, "total": total, "phase": phase})

        return report

    def dry_run(
        self, job: dict[str, Any], store: FeatureStore, layer: Layer, options: ImportOptions, choices: dict[str, Any]
    ) -> dict[str, Any]:
        """Start the dry run of ``options``; ``choices`` (the page's form) are kept for the commit to use."""
        path = self.upload_path(job)

        def work() -> dict[str, Any]:
            report = import_file(store, layer, path, options, self._progress(job["id"], "checked"))
            self._keep_skipped(job["id"], report)
            done = {"done": report.rows, "total": report.rows, "phase": "done"}
            return {"status": "dry_run_done", "report": report_zh(report), "progress": done, "result": None}

        allowed = ("inspected", "dry_run_done", "done", "failed")
        return self._submit(job["id"], allowed, "dry_running", work, choices=choices)

    def commit(self, job: dict[str, Any], store: FeatureStore, layer: Layer, options: ImportOptions) -> dict[str, Any]:
        """Start writing the file with the options of its dry run; a rejected file leaves the store as it was."""
        if job["status"] != "dry_run_done":
            raise ImportJobConflict(f"the job is {job['status']}: run the dry run first, then commit")
        path = self.upload_path(job)
        total = int(job.get("report", {}).get("rows") or 0)

        def work() -> dict[str, Any]:
            self.update(job["id"], progress={"done": 0, "total": total, "phase": "checking"})
            report = import_file(store, layer, path, options, self._progress(job["id"], "writing"))
            self._keep_skipped(job["id"], report)
            status = "done" if report.status == "applied" else "failed"
            done = {"done": report.rows, "total": report.rows, "phase": status}
            return {"status": status, "result": report_zh(report), "progress": done}

        return self._submit(job["id"], ("dry_run_done",), "committing", work)

    def _keep_skipped(self, job_id: str, report: ImportReport) -> None:
        """Write every skipped row of the run to the job's folder (replacing the previous run's)."""
        (self.directory(job_id) / SKIPPED_FILE).write_bytes(every_skipped_csv(report))

    def skipped_csv(self, job: dict[str, Any]) -> bytes:
        """Return every row the job's last run skipped, as CSV for Excel (empty but for the header before a run)."""
        path = self.directory(job["id"]) / SKIPPED_FILE
        return path.read_bytes() if path.is_file() else skipped_csv([])

    def shutdown(self) -> None:
        """Wait for the running import to end (the store is closed after this)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
