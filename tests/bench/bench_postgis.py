"""GeoPackage vs PostGIS on the same synthetic farmland: load, nearby, progress and vector tiles.

Run: ``.venv/bin/python tests/bench/run.py postgis [--sizes 10000 100000] [--queries 100]``. Needs the
PostGIS of PLANMAP_TEST_DATABASE_URL (default the local ``planmap_test`` database); a scratch schema is
created and dropped. Parcels come from ``bench_nearby.synthetic_parcels`` with a county and a due date
each. Timed per store, on the layers functions (no HTTP): ``find_nearby`` (2 km, limit 50; the GeoPackage
path uses the cached in-memory index, PostGIS asks the database each time), ``layer_progress`` (pandas
vs one GROUP BY), and WebMercatorQuad tiles at z12 and z14 (Python pipeline
vs ST_AsMVT). Prints p50/p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PG_URL = os.environ.get("PLANMAP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/planmap_test")
COUNTIES = np.array(["430302", "430304", "430321", "430381", "430382"], dtype=object)


def _nearby_module() -> object:
    spec = importlib.util.spec_from_file_location("bench_nearby", HERE / "bench_nearby.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _percentiles(call: Callable[[], object], runs: int) -> tuple[float, float]:
    call()  # warm: the GeoPackage path builds its index here
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def _stores(n: int, tmp: Path) -> tuple[object, object, float, float]:
    from geo.storage import GeoPackageStore, open_store

    bench = _nearby_module()
    parcels = bench.synthetic_parcels(n)  # type: ignore[attr-defined]
    rng = np.random.default_rng(5)
    parcels["county"] = COUNTIES[rng.integers(0, len(COUNTIES), n)]
    parcels["due_date"] = np.where(rng.random(n) < 0.5, "2025-06-30", "2025-12-31")
    types = {"due_date": "date"}
    gpkg = GeoPackageStore(tmp / "bench.gpkg")
    started = time.perf_counter()
    gpkg.write_layer("farmland", parcels, types=types)
    gpkg_s = time.perf_counter() - started
    pg = open_store(PG_URL, schema=f"planmap_bench_{uuid.uuid4().hex[:8]}")
    started = time.perf_counter()
    pg.write_layer("farmland", parcels, types=types)
    pg_s = time.perf_counter() - started
    return gpkg, pg, gpkg_s, pg_s


def bench_size(n: int, queries: int) -> list[tuple[str, ...]]:
    """Return table rows (size, operation, store, p50, p95) for ``n`` parcels."""
    import morecantile

    from geo.storage import Filter
    from geo.tms import tile_grid
    from layers.nearby import find_nearby
    from layers.progress import layer_progress
    from layers.registry import load_catalogue
    from layers.tiles import TileSpec, vector_tile

    layer = load_catalogue().get("farmland")
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        gpkg, pg, gpkg_s, pg_s = _stores(n, Path(tmp))
        rows += [(f"{n:,}", "write layer", "gpkg", f"{gpkg_s * 1000:.0f}", "-")]
        rows += [(f"{n:,}", "write layer", "postgis", f"{pg_s * 1000:.0f}", "-")]
        points = _nearby_module().query_points(gpkg.read("farmland", limit=2000), queries)  # type: ignore[attr-defined]
        tms = morecantile.tms.get("WebMercatorQuad")
        try:
            for name, store in (("gpkg", gpkg), ("postgis", pg)):
                it = iter(points * 10)
                ops: list[tuple[str, Callable[[], object], int]] = [
                    ("nearby 2 km", lambda s=store, i=it: find_nearby(s, [layer], *next(i), 2000, limit=50), queries),
                    ("progress", lambda s=store: layer_progress(s, layer), 20),
                ]
                for z in (12, 14):
                    t = tms.tile(112.9, 27.85, z)
                    grid = tile_grid("WebMercatorQuad", z, t.x, t.y)
                    ops.append(
                        (f"tile z{z}", lambda s=store, g=grid: vector_tile(s, [(layer, Filter())], g, TileSpec()), 20)
                    )
                for label, call, runs in ops:
                    p50, p95 = _percentiles(call, runs)
                    rows.append((f"{n:,}", label, name, f"{p50:.1f}", f"{p95:.1f}"))
        finally:
            gpkg.close()
            pg.reset(confirm=True)
            schema = pg.schema
            pg.close()
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args(argv)
    rows = [row for n in args.sizes for row in bench_size(n, args.queries)]
    header = ("parcels", "operation", "store", "p50 ms", "p95 ms")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
