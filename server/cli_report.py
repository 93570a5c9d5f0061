"""``planmap report weekly|monthly``: build (or fetch from the archive) a report and write its PDF and XLSX."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from tqdm import tqdm

from geo.errors import GeoError
from layers.alerts import deliver_files
from layers.errors import LayerError, UnknownPlan
from layers.plans import resolve_plan
from layers.registry import load_catalogue
from layers.reports import REPORT_KINDS, ReportArchive, ReportRequest
from server.reports.service import make_report
from server.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` command."""
    rep = sub.add_parser("report", help="weekly or monthly report (周报/月报) as PDF and XLSX")
    rep.add_argument("kind", choices=list(REPORT_KINDS), help="weekly (周报) or monthly (月报)")
    rep.add_argument("--plan", type=int, help="plan year (default: the current plan)")
    rep.add_argument("--as-of", dest="as_of", help="the report's day, YYYY-MM-DD (default: today)")
    rep.add_argument("--county", help="one county adcode, e.g. 430321 (default: the whole city)")
    rep.add_argument("--out", default=".", help="directory to write the PDF and XLSX to")
    rep.add_argument("--send", nargs="+", metavar="DEST", help="also send the files to these destinations")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Write the report's files to ``--out``; problems are one line on stderr and exit code 2."""
    bar = tqdm(total=0, unit="section", file=sys.stderr, dynamic_ncols=True)

    def on_step(label: str, done: int, total: int) -> None:
        bar.total, bar.n = total, done
        bar.set_description(label)
        bar.refresh()

    started = time.perf_counter()
    try:
        with settings.store.open() as store:
            plan = resolve_plan(store, args.plan)
            if plan is None:
                raise UnknownPlan("no active plan: name one with --plan")
            day = date.fromisoformat(args.as_of) if args.as_of else date.today()
            request = ReportRequest.parse(args.kind, plan.plan.year, day, args.county)
            report = make_report(store, load_catalogue(), plan, request, settings.store.reports, "cli", on_step)
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            archive = ReportArchive(store, settings.store.reports)
            written = []
            for fmt in report.files:
                target = out / f"{report.id}.{fmt}"
                target.write_bytes(archive.read(report, fmt))
                written.append(target)
    except (GeoError, LayerError, OSError, ValueError) as exc:
        bar.close()
        print(f"planmap report: {exc}", file=sys.stderr)
        return 2
    bar.close()
    for path in written:
        print(f"wrote {path}")
    print(f"report {report.id} (data version {report.data_version}) in {time.perf_counter() - started:.1f} s")
    return _send(settings, written, args.send, report.id) if args.send else 0


def _send(settings: Settings, files: list[Path], destinations: list[str], report_id: str) -> int:
    """Send the files to configured alert destinations (/admin/alerts), once per report and destination.

    Exit code 3 when a destination is unknown or a delivery failed (a later run retries a failed one).
    """
    try:
        with settings.store.open() as store:
            outcome = deliver_files(
                store,
                files,
                destinations,
                settings.alerts.config(),
                title=f"planmap 报告 {report_id}",
                key=f"report:{report_id}",
            )
    except (GeoError, LayerError, OSError) as exc:
        print(f"planmap report: {exc}", file=sys.stderr)
        return 3
    for name, status in outcome.items():
        print(f"{name}: {status}")
    return 3 if "failed" in outcome.values() else 0
