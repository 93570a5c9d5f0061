"""Time the whole 2025 monthly report (numbers, maps, PDF, XLSX) on the demo data and print peak memory."""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path


def main(argv: list[str]) -> int:
    """Build the demo GeoPackage, then render the monthly report ``--runs`` times; print the times and memory."""
    from geo.storage.gpkg import GeoPackageStore
    from layers.demo import build_demo
    from layers.plans import ensure_seed, get_plan
    from layers.registry import load_catalogue
    from layers.reports import ReportRequest
    from server.reports.service import render_report

    parser = argparse.ArgumentParser(prog="run.py report")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--as-of", default="2025-06-30")
    parser.add_argument("--county", default=None)
    args = parser.parse_args(argv)
    registry = load_catalogue()
    with tempfile.TemporaryDirectory() as tmp, GeoPackageStore(Path(tmp) / "planmap.gpkg") as store:
        build_demo(store, registry, seed=2025)
        ensure_seed(store)
        plan = get_plan(store, 2025)
        request = ReportRequest.parse("monthly", 2025, date.fromisoformat(args.as_of), args.county)
        print(f"{'run':>4} {'seconds':>8} {'pdf KB':>8} {'xlsx KB':>8} {'py peak MB':>10}")
        for run in range(1, args.runs + 2):
            traced = run > args.runs  # the last run measures Python's peak memory (tracemalloc slows it down)
            if traced:
                tracemalloc.start()
            started = time.perf_counter()
            files = render_report(store, registry, plan, request, "bench", datetime.now(UTC))
            seconds = time.perf_counter() - started
            peak = f"{tracemalloc.get_traced_memory()[1] / 2**20:10.1f}" if traced else f"{'-':>10}"
            tracemalloc.stop()
            pdf, xlsx = len(files.files["pdf"]) / 1024, len(files.files["xlsx"]) / 1024
            label = "mem" if traced else str(run)
            print(f"{label:>4} {seconds:>8.2f} {pdf:>8.0f} {xlsx:>8.0f} {peak}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:.0f} MB (includes building the demo data); target: <= 20 s per report")
    return 0
