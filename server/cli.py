"""The ``planmap`` command: build-demo, serve, info, export, token, user."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, get_args

from tqdm import tqdm

from geo.errors import StoreUnavailable
from geo.textlists import split_list
from layers.import_report import OnInvalid
from layers.import_zh import every_skipped_csv
from layers.plan_scope import plan_filter
from layers.plans import current_plan
from layers.progress import layer_progress
from layers.query import Selection
from layers.raster_demo import build_demo_rasters
from layers.registry import load_catalogue
from layers.store import missing_layers, open_plan_store
from server import cli_alerts, cli_package, cli_plan, cli_raster, cli_report
from server.cli_db import add_db_parser, replacing, run_db
from server.cli_users import add_user_parser, run_user
from server.settings import Settings


def _bar() -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
    """Return an ``on_step(label, done, total)`` callback drawing a tqdm bar, and a closer."""
    bar = tqdm(total=0, unit="step", dynamic_ncols=True, file=sys.stderr)

    def on_step(label: str, done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.set_description(label)
        bar.refresh()

    return on_step, bar.close


def build_demo(settings: Settings, seed: int, if_missing: bool, replace: bool = False) -> int:
    """Build the demo data into the configured store (a GeoPackage is built aside, then moved in).

    A database that already holds history is only rebuilt with ``replace``: into a staging schema that then
    replaces its layers and history in one transaction, so a running server never sees half a dataset.
    """
    from layers.demo import build_demo as run_build

    registry = load_catalogue()
    url = settings.store.url
    is_file = not url.startswith(("postgresql://", "postgres://"))
    if if_missing and (not is_file or Path(url).exists()):
        with settings.store.open() as store:
            if not missing_layers(store, registry):
                print(f"demo data present in {url}; not rebuilding")
                return 0
    target = Path(url).with_suffix(".building.gpkg") if is_file else None
    if target is not None:
        target.unlink(missing_ok=True)
    on_step, close = _bar()
    started = time.perf_counter()
    with open_plan_store(str(target)) if target else settings.store.open() as store:
        if target is None and len(store.history()) and not replace:
            close()
            print(f"{url} already holds data; pass --replace to drop its layers and history", file=sys.stderr)
            return 2
        if target is None and replace:
            with replacing(store) as stage:
                report = run_build(stage, registry, seed=seed, on_step=on_step)
        else:
            report = run_build(store, registry, seed=seed, on_step=on_step)
    close()
    if target is not None:
        for suffix in ("-wal", "-shm"):
            Path(url + suffix).unlink(missing_ok=True)
        os.replace(target, url)
    build_demo_rasters(settings.store.data_dir, seed)
    print(f"built {sum(report.counts.values())} features in {time.perf_counter() - started:.1f} s into {url}")
    for layer_id, count in report.counts.items():
        print(f"  {layer_id:22} {count:6d}")
    return 0


def info(settings: Settings) -> int:
    """Print every layer with its feature count, the current plan's target and progress."""
    with settings.store.open() as store:
        plan = current_plan(store)
        registry = load_catalogue(plan=plan.plan if plan else None)
        missing = missing_layers(store, registry)
        if missing:
            print(f"missing layers {missing}: run `planmap build-demo`", file=sys.stderr)
            return 1
        print(f"store: {settings.store.url} · plan: {plan.plan.year if plan else 'none active'}")
        print(f"{'layer':22} {'title':14} {'features':>8} {'done':>12} {'target':>12} {'progress':>9} {'overdue':>7}")
        for layer in registry:
            p = layer_progress(store, layer, where=plan_filter(layer, plan.plan.year if plan else None))
            target = f"{p.target:,.0f} {p.unit_zh}" if p.target else "-"
            done = f"{p.done:,.0f} {p.unit_zh}" if p.target else "-"
            pct = f"{p.pct:.1f}%" if p.pct is not None else "-"
            print(f"{layer.id:22} {layer.title_zh:14} {p.features:8d} {done:>12} {target:>12} {pct:>9} {p.overdue:7d}")
    return 0


def default_workers() -> int:
    """Return the worker count ``serve`` uses by default: one per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def serve(settings: Settings, host: str, port: int, workers: int | None) -> int:
    """Serve the API with uvicorn (one worker per core by default), with a deadline for each request's head.

    With several workers, the store's start-up work (schema migrations, the seed plan) runs once here,
    before uvicorn starts them, so they do not race to do it; each worker then finds it done.
    """
    import uvicorn

    from server.main import prepare_store
    from server.protocol import server_options

    workers = default_workers() if workers is None else workers
    if workers > 1:
        prepare_store(settings)
    options = server_options(settings.api)
    uvicorn.run(
        "server.main:create_app", factory=True, host=host, port=port, workers=workers, log_level="info", **options
    )
    return 0


def _export_selection(args: argparse.Namespace) -> Selection:
    """Build the export's selection from the command-line options (same meaning as the HTTP parameters)."""
    from geo.bbox import parse_bbox

    return Selection(
        bbox=parse_bbox(args.bbox, args.bbox_crs) if args.bbox else None,
        county=tuple(split_list(args.county)),
        status=tuple(split_list(args.status)),
        cql=args.filter,
        as_of=date.fromisoformat(args.as_of) if args.as_of else None,
    )


def export(settings: Settings, args: argparse.Namespace) -> int:
    """Export a layer (or a filtered selection of it) to a file, written aside and then moved in place."""
    from geo.errors import GeoError
    from geo.writers import parse_format
    from layers.errors import LayerError
    from layers.export import export_filename, prepare_export, write_export

    try:
        layer = load_catalogue().get(args.layer)
        out = Path(args.out) if args.out else Path.cwd()
        fmt = parse_format(args.format or (out.suffix if out.suffix and not out.is_dir() else "geojson"))
        selection = _export_selection(args)
        if out.is_dir():
            out = out / export_filename(layer, selection, fmt.ext, date.today())
        with settings.store.open() as store, tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            job = prepare_export(store, layer, selection, args.crs)
            zh = args.headers == "zh" or (args.headers is None and fmt.name == "xlsx")
            target = Path(tmp) / f"export.{fmt.ext}"
            written = write_export(job, fmt, target, args.geometry, zh, sheets=args.sheets)
            os.replace(written, out)
    except (GeoError, LayerError, ValueError) as exc:
        print(f"planmap export: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {job.matched} {layer.id} features ({fmt.name}, {job.schema.crs.name}) to {out}")
    return 0


def _add_export_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exp = sub.add_parser("export", help="export a layer or a filtered selection to a file")
    exp.add_argument("layer", help="layer id, e.g. farmland")
    exp.add_argument(
        "--format", help="geojson, csv, xlsx, gpkg, fgb, shp (zip) or parquet; default from --out's suffix"
    )
    exp.add_argument("--out", help="output file or directory (default: a descriptive name in the current directory)")
    exp.add_argument("--county", help="county adcode(s), comma-separated")
    exp.add_argument("--status", help="status value(s), comma-separated")
    exp.add_argument("--filter", help='CQL2 text filter, e.g. "area_mu > 100"')
    exp.add_argument("--as-of", dest="as_of", help="replay progress history to this date (YYYY-MM-DD)")
    exp.add_argument("--bbox", help="minx,miny,maxx,maxy (CRS84 unless --bbox-crs)")
    exp.add_argument("--bbox-crs", dest="bbox_crs", help="CRS of --bbox")
    exp.add_argument("--crs", default="CRS84", help="output CRS: CRS84, EPSG:4490, 4546, 4547 or 3857")
    exp.add_argument("--geometry", choices=("wkt", "lonlat"), default="wkt", help="CSV geometry columns")
    exp.add_argument(
        "--headers", choices=("name", "zh"), help="CSV/XLSX headers: names or Chinese (default: CSV name, XLSX zh)"
    )
    exp.add_argument(
        "--sheets", choices=("layer", "county"), default="layer", help="XLSX: one sheet, or one sheet per county"
    )


def token(settings: Settings, args: argparse.Namespace) -> int:
    """Create, list or revoke access tokens (a new token is printed once and only its hash is kept)."""
    from layers.tokens import create_token, list_tokens, revoke_token

    with settings.store.open() as store:
        if args.action == "create":
            try:
                secret = create_token(store, args.user, args.role, split_list(args.county))
            except ValueError as exc:
                print(f"planmap token: {exc}", file=sys.stderr)
                return 2
            print(secret)
            print(f"token for {args.user} ({args.role}); it is shown only this once", file=sys.stderr)
        elif args.action == "list":
            for rec in list_tokens(store):
                print(f"{rec.user:20} {rec.role:8} {','.join(rec.counties) or '-':20} {rec.created_at}")
        elif not revoke_token(store, args.user):
            print(f"planmap token: no token for {args.user!r}", file=sys.stderr)
            return 1
    return 0


def _add_token_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tok = sub.add_parser("token", help="manage access tokens (admin)")
    actions = tok.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create or replace a user's token and print it once")
    create.add_argument("--user", required=True, help="user name, e.g. zhang.san")
    create.add_argument("--role", required=True, choices=("viewer", "field", "planner", "admin"))
    create.add_argument("--county", help="field teams: county adcode(s), comma-separated, e.g. 430321,430381")
    actions.add_parser("list", help="list users, roles and counties (never the tokens)")
    revoke = actions.add_parser("revoke", help="revoke a user's token")
    revoke.add_argument("user", help="user name")


def _mapping_file(path: str) -> Any:
    """Return the mapping file's JSON; a file that is not JSON is a ``ValueError`` naming it."""
    import json

    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"mapping file {path} is not valid JSON: {exc}") from None


def import_data(settings: Settings, args: argparse.Namespace) -> int:
    """Import a data file into a layer and print the report (exit 1 when the file is rejected)."""
    from geo.errors import GeoError
    from layers.errors import LayerError
    from layers.import_mapping import parse_mapping
    from layers.importer import ImportOptions, import_file

    try:
        layer = load_catalogue().get(args.layer)
        mapping = parse_mapping(_mapping_file(args.mapping), layer) if args.mapping else None
        options = ImportOptions(
            mode=args.mode,
            dry_run=args.dry_run,
            mapping=mapping,
            coordsys=args.coordsys,
            source=args.source,
            encoding=args.encoding,
            file_layer=args.file_layer,
            file_name=Path(args.file).name,
            author="cli",
            allow_remove=args.allow_remove,
            on_invalid=args.on_invalid,
            zip_limits=settings.api.zip_limits,
            read_limits=settings.api.read_limits,
        )
        with settings.store.open() as store:
            report = import_file(store, layer, args.file, options)
        if args.skipped_csv:
            Path(args.skipped_csv).write_bytes(every_skipped_csv(report))
    except (GeoError, LayerError, OSError, ValueError) as exc:
        print(f"planmap import: {exc}", file=sys.stderr)
        return 2
    print(report.model_dump_json(indent=2) if args.json else report.summary())
    return 1 if report.status == "rejected" else 0


def _add_import_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = sub.add_parser("import", help="import a real data file into a layer (replace or upsert)")
    imp.add_argument("layer", help="layer id, e.g. farmland")
    imp.add_argument("file", help="GeoPackage, zipped Shapefile, GeoJSON, FlatGeobuf or CSV (lon/lat or WKT)")
    imp.add_argument(
        "--mapping",
        help='JSON file {"source column": "field"} or {"field": {"column": ..., "values"/"format"/"unit": ...}} '
        'or {"field": {"value": ...}} (see README, Imports)',
    )
    imp.add_argument("--coordsys", choices=("wgs84", "cgcs2000", "gcj02", "bd09"), default="wgs84")
    imp.add_argument("--mode", choices=("replace", "upsert"), default="replace")
    imp.add_argument("--dry-run", dest="dry_run", action="store_true", help="report what would change, write nothing")
    imp.add_argument("--source", help="recorded as every feature's source (default: import: <file name>)")
    imp.add_argument("--encoding", help="attribute encoding when the file does not declare it, e.g. gbk")
    imp.add_argument("--layer-name", dest="file_layer", help="layer or zip member to read if the file has several")
    imp.add_argument(
        "--allow-remove",
        dest="allow_remove",
        type=int,
        metavar="N",
        help="replace: allow removing up to N stored features (default: 10%% of them)",
    )
    imp.add_argument(
        "--on-invalid",
        dest="on_invalid",
        choices=get_args(OnInvalid),
        default="reject",
        help="reject the whole file when a row has a problem (default), skip such rows and list them, or clip "
        "geometries crossing the city edge to the city (rows wholly outside and other problems skipped)",
    )
    imp.add_argument(
        "--skipped-csv",
        dest="skipped_csv",
        metavar="FILE",
        help="write every skipped row (row, place, id, column, reason in Chinese and English) to FILE as CSV; "
        "the report itself lists the first 500",
    )
    imp.add_argument("--json", action="store_true", help="print the full report as JSON")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="planmap", description=__doc__)
    parser.add_argument("--data-dir", help="data directory (default ./data or PLANMAP_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build-demo", help="build the deterministic demo data")
    build.add_argument("--seed", type=int, default=2025)
    build.add_argument("--if-missing", action="store_true", help="do nothing when the data is already built")
    build.add_argument(
        "--replace", action="store_true", help="PostGIS: build aside, then replace layers and history at once"
    )
    sub.add_parser("info", help="list layers with counts, targets and progress")
    srv = sub.add_parser("serve", help="serve the API and maps")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    _add_export_parser(sub)
    _add_token_parser(sub)
    add_user_parser(sub)
    _add_import_parser(sub)
    add_db_parser(sub)
    cli_package.add_parser(sub)
    cli_plan.add_parser(sub)
    cli_raster.add_parser(sub)
    cli_report.add_parser(sub)
    cli_alerts.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``planmap`` command line."""
    args = _parser().parse_args(argv)
    if args.data_dir:
        os.environ["PLANMAP_DATA_DIR"] = args.data_dir
    settings = Settings()
    commands: dict[str, Callable[[], int]] = {
        "build-demo": lambda: build_demo(settings, args.seed, args.if_missing, args.replace),
        "info": lambda: info(settings),
        "export": lambda: export(settings, args),
        "token": lambda: token(settings, args),
        "user": lambda: run_user(settings, args),
        "import": lambda: import_data(settings, args),
        "db": lambda: run_db(settings, args),
        "package": lambda: cli_package.package(settings, args),
        "plan": lambda: cli_plan.run(settings, args),
        "raster": lambda: cli_raster.run(settings, args),
        "report": lambda: cli_report.run(settings, args),
        "alerts": lambda: cli_alerts.run(settings, args),
    }
    try:
        if args.command in commands:
            return commands[args.command]()
        return serve(settings, args.host, args.port, args.workers)
    except StoreUnavailable as exc:  # the store cannot be opened or reached: say why, without a traceback
        print(f"planmap: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
