"""Nearby on PostGIS against the SQL floor: the store's ``nearest`` beside the plain query, alternating.

Run: ``.venv/bin/python tests/bench/run.py nearsql [--sizes 100000 1000000] [--queries 200]``. Uses the
parcels of ``run.py tipg`` (schema ``bench_<n>`` of PLANMAP_TEST_DATABASE_URL, written when absent). For each
query point (a random parcel's centroid, the same list for every system) three calls are timed in turn:

- ``planmap``: ``PostGISStore.nearest`` (2 km, limit 50, geodesic distance and bearing, the frame built);
- ``floor all``: the plain SQL a hand-written client would send: every parcel within 2 km (geography
  ``ST_DWithin`` on the GiST-filtered box), its WKB and geodesic distance, ordered by distance;
- ``floor 50``: the same with ``LIMIT 50``.

Prints p50/p95 in milliseconds per size and the ratio of planmap's p50 to each floor's.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DSN = os.environ.get("PLANMAP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/planmap_test")
RADIUS = 2000.0
LIMIT = 50

FLOOR = """
SELECT id, ST_AsBinary(geom), ST_Distance(geom::geography, p::geography) AS d
FROM {schema}.farmland, (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS p) AS q
WHERE geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)
  AND ST_DWithin(geom::geography, p::geography, %(r)s)
ORDER BY d {limit}
"""


def _tipg_bench() -> object:
    spec = importlib.util.spec_from_file_location("bench_tipg", HERE / "bench_tipg.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _points(schema: str, queries: int) -> list[tuple[float, float]]:
    import psycopg

    with psycopg.connect(DSN) as conn:
        rows = conn.execute(
            f"SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) AS c FROM {schema}.farmland "
            f"ORDER BY md5(id) LIMIT %s) s",
            (queries,),
        ).fetchall()
    return [(float(x), float(y)) for x, y in rows]


def run(n: int, queries: int) -> list[str]:
    """Time the three systems over the same points, alternating per point; return the table's rows."""
    import psycopg

    from geo.spatial_index import search_box
    from geo.storage.postgis import PostGISStore

    schema = _tipg_bench().load(n, False)  # type: ignore[attr-defined]
    points = _points(schema, queries)
    times: dict[str, list[float]] = {"planmap": [], "floor all": [], "floor 50": []}
    counts: dict[str, list[int]] = {k: [] for k in times}
    with PostGISStore(DSN, schema=schema) as store, psycopg.connect(DSN) as conn:
        store.nearest("farmland", *points[0], RADIUS, LIMIT)  # warm the pool and the column cache
        for lon, lat in points:
            x0, y0, x1, y1 = search_box(lon, lat, RADIUS)
            params = {"lon": lon, "lat": lat, "x0": x0, "y0": y0, "x1": x1, "y1": y1, "r": RADIUS}
            started = time.perf_counter()
            frame = store.nearest("farmland", lon, lat, RADIUS, LIMIT)
            times["planmap"].append((time.perf_counter() - started) * 1000)
            counts["planmap"].append(len(frame))
            for name, limit in (("floor all", ""), ("floor 50", f"LIMIT {LIMIT}")):
                started = time.perf_counter()
                rows = conn.execute(FLOOR.format(schema=schema, limit=limit), params).fetchall()
                times[name].append((time.perf_counter() - started) * 1000)
                counts[name].append(len(rows))
    p50 = {k: float(np.percentile(v, 50)) for k, v in times.items()}
    out = []
    for name, values in times.items():
        ratio = p50["planmap"] / p50[name]
        out.append(
            f"| {n:>9,} | {name:<9} | {p50[name]:>7.1f} | {float(np.percentile(values, 95)):>7.1f} "
            f"| {float(np.mean(counts[name])):>7.0f} | {ratio:>5.2f}x |"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Print planmap's PostGIS nearby beside the SQL floor for each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    head = [
        f"nearby {RADIUS:.0f} m, limit {LIMIT}, {args.queries} points, alternating per point",
        "",
        "| parcels   | system    | p50 ms  | p95 ms  | rows    | planmap p50 / this |",
        "|----------:|-----------|--------:|--------:|--------:|------:|",
    ]
    print("\n".join(head), flush=True)
    rows = []
    for n in args.sizes:
        for row in run(n, args.queries):
            print(row, flush=True)
            rows.append(row)
    out = HERE / "results" / "nearsql.md"
    title = f"# Nearby on PostGIS against the SQL floor\n\n`{' '.join(sys.argv)}` on {time.strftime('%Y-%m-%d')}\n"
    out.write_text("\n".join([title, *head, *rows, ""]), encoding="utf-8")
    return 0
