"""The report archive on both stores: built once per request and data version even when workers race."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest

from layers.reports import ReportArchive, ReportFiles, ReportRequest


def test_two_workers_build_a_report_once(writable_store, tmp_path):
    request = ReportRequest.parse("monthly", 2025, date(2025, 6, 30), None)
    builds = []

    def build(generated_at):
        builds.append(generated_at)
        time.sleep(0.5)  # long enough for the other worker to find the claim
        return ReportFiles({"pdf": b"%PDF " + generated_at.isoformat().encode(), "xlsx": b"PK"})

    results = []

    def worker():
        archive = ReportArchive(writable_store, tmp_path / "reports")
        results.append(archive.obtain(request, "abc123", build, "li"))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert len({r.id for r in results}) == 1 and len(results) == 2
    archive = ReportArchive(writable_store, tmp_path / "reports")
    assert archive.read(results[0], "pdf") == b"%PDF " + builds[0].isoformat().encode()
    assert [r.id for r in archive.list()] == [results[0].id]


def test_a_failed_build_leaves_no_claim_and_a_changed_file_is_refused(writable_store, tmp_path):
    from layers.errors import ReportUnavailable

    request = ReportRequest.parse("weekly", 2025, date(2025, 6, 30), "430321")
    archive = ReportArchive(writable_store, tmp_path)

    def broken(generated_at):
        raise RuntimeError("renderer failed")

    with pytest.raises(RuntimeError):
        archive.obtain(request, "v1", broken, "li")
    made = archive.obtain(request, "v1", lambda g: ReportFiles({"pdf": b"one"}), "li")
    assert archive.read(made, "pdf") == b"one"
    made.path(tmp_path, "pdf").write_bytes(b"two")
    with pytest.raises(ReportUnavailable, match="changed"):
        archive.read(made, "pdf")
