"""The ``planmap`` command: build-demo, serve, info."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from layers.progress import layer_progress
from layers.registry import load_catalogue
from layers.store import missing_layers, open_plan_store
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


def build_demo(settings: Settings, seed: int, if_missing: bool) -> int:
    """Build the demo data into the configured store (a GeoPackage is built aside, then moved in)."""
    from layers.demo import build_demo as run_build

    registry = load_catalogue()
    url = settings.store.url
    is_file = not url.startswith(("postgresql://", "postgres://"))
    if if_missing and (not is_file or Path(url).exists()):
        with open_plan_store(url) as store:
            if not missing_layers(store, registry):
                print(f"demo data present in {url}; not rebuilding")
                return 0
    target = Path(url).with_suffix(".building.gpkg") if is_file else None
    if target is not None:
        target.unlink(missing_ok=True)
    on_step, close = _bar()
    started = time.perf_counter()
    with open_plan_store(str(target) if target else url) as store:
        report = run_build(store, registry, seed=seed, on_step=on_step)
    close()
    if target is not None:
        for suffix in ("-wal", "-shm"):
            Path(url + suffix).unlink(missing_ok=True)
        os.replace(target, url)
    print(f"built {sum(report.counts.values())} features in {time.perf_counter() - started:.1f} s into {url}")
    for layer_id, count in report.counts.items():
        print(f"  {layer_id:22} {count:6d}")
    return 0


def info(settings: Settings) -> int:
    """Print every layer with its feature count, plan target and progress."""
    registry = load_catalogue()
    with open_plan_store(settings.store.url) as store:
        missing = missing_layers(store, registry)
        if missing:
            print(f"missing layers {missing}: run `planmap build-demo`", file=sys.stderr)
            return 1
        print(f"store: {settings.store.url}")
        print(f"{'layer':22} {'title':14} {'features':>8} {'done':>12} {'target':>12} {'progress':>9} {'overdue':>7}")
        for layer in registry:
            p = layer_progress(store, layer)
            target = f"{p.target:,.0f} {p.unit_zh}" if p.target else "-"
            done = f"{p.done:,.0f} {p.unit_zh}" if p.target else "-"
            pct = f"{p.pct:.1f}%" if p.pct is not None else "-"
            print(f"{layer.id:22} {layer.title_zh:14} {p.features:8d} {done:>12} {target:>12} {pct:>9} {p.overdue:7d}")
    return 0


def serve(host: str, port: int, workers: int) -> int:
    """Serve the API with uvicorn."""
    import uvicorn

    uvicorn.run("server.main:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="planmap", description=__doc__)
    parser.add_argument("--data-dir", help="data directory (default ./data or PLANMAP_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build-demo", help="build the deterministic demo data")
    build.add_argument("--seed", type=int, default=2025)
    build.add_argument("--if-missing", action="store_true", help="do nothing when the data is already built")
    sub.add_parser("info", help="list layers with counts, targets and progress")
    srv = sub.add_parser("serve", help="serve the API and maps")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--workers", type=int, default=1)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``planmap`` command line."""
    args = _parser().parse_args(argv)
    if args.data_dir:
        os.environ["PLANMAP_DATA_DIR"] = args.data_dir
    settings = Settings()
    if args.command == "build-demo":
        return build_demo(settings, args.seed, args.if_missing)
    if args.command == "info":
        return info(settings)
    return serve(args.host, args.port, args.workers)


if __name__ == "__main__":
    sys.exit(main())
