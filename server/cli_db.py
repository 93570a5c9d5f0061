"""``planmap db``: create the PostGIS schema, load a GeoPackage into it, dump it back to a GeoPackage."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geo.errors import GeoError
from geo.storage import FeatureStore, GeoPackageStore, open_store
from geo.storage.transfer import CopyReport, copy_store
from server.settings import Settings


def add_db_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``db init``, ``db load`` and ``db dump`` to the ``planmap`` parser."""
    db = sub.add_parser("db", help="PostGIS: create the schema, load a GeoPackage into it, dump it back")
    actions = db.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="create the planmap schema and apply migrations")
    load = actions.add_parser("load", help="copy every layer, the history and metadata from a GeoPackage")
    load.add_argument("--from", dest="source", required=True, help="GeoPackage to copy, e.g. data/planmap.gpkg")
    load.add_argument("--replace", action="store_true", help="load aside, then replace layers and history at once")
    dump = actions.add_parser("dump", help="copy every layer, the history and metadata into a new GeoPackage")
    dump.add_argument("--to", dest="target", required=True, help="GeoPackage to write (replaced if present)")
    for parser in (init, load, dump):
        parser.add_argument("--url", help="PostgreSQL URL (default: PLANMAP_DATABASE_URL)")
        parser.add_argument("--schema", help="schema (default: PLANMAP_DATABASE_SCHEMA or planmap)")


def _print_report(report: CopyReport, what: str, seconds: float) -> None:
    features = sum(report.features.values())
    print(f"{what}: {len(report.features)} layers, {features} features, {report.history_rows} history rows")
    print(f"  metadata {report.meta_keys or '-'}, {report.tokens} access tokens; {seconds:.1f} s")


@contextmanager
def replacing(store: FeatureStore) -> Iterator[FeatureStore]:
    """Yield where to write a whole new dataset for ``store``: a PostGIS staging schema, swapped in at the end.

    Servers on the schema keep answering from the old data until the swap (one transaction).
    """
    from geo.storage.postgis import PostGISStore

    if not isinstance(store, PostGISStore):
        raise ValueError("--replace rebuilds a PostGIS schema; a GeoPackage is rebuilt aside and moved in")
    with store.rebuilding() as stage:
        yield stage


def _load(url: str, schema: str, source: Path, replace: bool) -> int:
    if not source.is_file():
        print(f"planmap db load: no GeoPackage at {source}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with GeoPackageStore(source) as src, open_store(url, schema=schema) as target:
        if not replace and (target.layers() or len(target.history())):
            raise ValueError(f"schema {schema!r} already holds data; add --replace to replace it")
        # Always built aside and swapped in: a load that fails half-way leaves the schema as it was.
        with replacing(target) as stage:
            report = copy_store(src, stage)
    _print_report(report, f"loaded {source} into schema {schema!r}", time.perf_counter() - started)
    return 0


def _dump(url: str, schema: str, target: Path) -> int:
    started = time.perf_counter()
    aside = target.with_name(f".{target.name}.dumping.gpkg")
    aside.unlink(missing_ok=True)
    try:
        with open_store(url, schema=schema) as src, GeoPackageStore(aside) as out:
            report = copy_store(src, out)
        os.replace(aside, target)
    finally:
        aside.unlink(missing_ok=True)
    _print_report(report, f"dumped schema {schema!r} to {target}", time.perf_counter() - started)
    return 0


def run_db(settings: Settings, args: argparse.Namespace) -> int:
    """Run a ``planmap db`` action; exit 2 with a message when the database or a file is unusable."""
    url = args.url or settings.store.database_url
    schema = args.schema or settings.store.database_schema
    if not url or not url.startswith(("postgresql://", "postgres://")):
        print("planmap db: give --url postgresql://... or set PLANMAP_DATABASE_URL", file=sys.stderr)
        return 2
    try:
        if args.action == "init":
            with open_store(url, schema=schema) as store:
                print(f"schema {schema!r} ready: {len(store.layers())} layers")
            return 0
        if args.action == "load":
            return _load(url, schema, Path(args.source), args.replace)
        return _dump(url, schema, Path(args.target))
    except (GeoError, ValueError) as exc:
        print(f"planmap db {args.action}: {exc}", file=sys.stderr)
        return 2
