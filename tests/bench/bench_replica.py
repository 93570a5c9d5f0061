"""planmap on PostGIS reading from the primary only vs from a streaming replica: tiles and /items over HTTP.

Run: ``.venv/bin/python tests/bench/run.py replica [--sizes 100000]``; needs the test cluster
(``PLANMAP_TEST_DATABASE_URL``) and its replica (``PLANMAP_TEST_REPLICA_URL``, ``.ci/replica.sh`` makes one).
The synthetic parcels and the tile and bbox lists are ``bench_tipg``'s (schema ``bench_<n>``, kept between
runs). Two planmap servers (uvicorn, one worker, tile cache off) serve the same schema: one reads from the
primary, the other with ``PLANMAP_DATABASE_REPLICA_URLS`` set; they are measured in turn A B A B A B. Both
databases share this machine's cores, so the replica shows what routing costs and what moves off the
primary, not the capacity of a second machine: the last column counts the reads each database answered.
Prints a table and writes ``tests/bench/results/replica.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REPLICA = os.environ.get("PLANMAP_TEST_REPLICA_URL", "postgresql://postgres@127.0.0.1:5433/planmap_test")


def caught_up(dsn: str, replica: str, timeout: float = 300.0) -> None:
    """Wait until the replica has replayed what the primary holds now."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        target = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    deadline = time.monotonic() + timeout
    with psycopg.connect(replica, autocommit=True) as conn:
        while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the replica did not reach {target} in {timeout:.0f} s")
            time.sleep(0.1)


def served_reads(base: str) -> str:
    """Return how many reads the server's replica answered, from its health report."""
    import httpx

    replicas = httpx.get(f"{base}/healthz", timeout=10).json().get("replicas", [])
    return ", ".join(f"{r['reads']:,} on {r['name']}" for r in replicas) or "all on the primary"


def bench_size(n: int, reload: bool) -> list[str]:
    """Measure tiles and items on both servers for ``n`` parcels; return the table lines."""
    from bench_tipg import DSN, Server, load, measure, run, tile_urls, workload

    schema = load(n, reload)
    caught_up(DSN, REPLICA)
    tiles, boxes = workload(schema)
    env = {
        "PLANMAP_DATABASE_URL": DSN,
        "PLANMAP_DATABASE_SCHEMA": schema,
        "PLANMAP_DATABASE_POOL_SIZE": "8",
        "PLANMAP_TILE_CACHE_ITEMS": "0",
        "PLANMAP_DATA_DIR": str(Path("/tmp") / f"planmap-bench-{schema}"),
    }
    app, probe = ["server.main:create_app", "--factory"], "/collections/farmland/items?limit=1"
    servers = {
        "primary": (Server(app, env, probe), ""),
        "+ replica": (Server(app, {**env, "PLANMAP_DATABASE_REPLICA_URLS": REPLICA}, probe), ""),
    }
    try:
        urls = {}
        for system in servers:
            urls[("tiles", system)] = tile_urls("/collections/farmland", tiles, False)
            urls[("items", system)] = [f"/collections/farmland/items?bbox={b}&limit=100" for b in boxes]
            run(servers[system][0].base, urls[("tiles", system)][:3] + urls[("items", system)][:3], 1)
        rows = [(row, "primary|+ replica", c) for row in ("tiles", "items") for c in (1, 8)]
        results = measure(servers, rows, urls)
        reads = {system: served_reads(server.base) for system, (server, _) in servers.items()}
    finally:
        for server, _ in servers.values():
            server.stop()
    what = {"tiles": f"MVT ({len(tiles)} tiles)", "items": "items limit=100"}
    lines = []
    for (row, system, c), (lat, wall) in results.items():
        p50, p95 = np.percentile(lat * 1000, [50, 95])
        lines.append(
            f"| {n:>9,} | {what[row]:<16} | {system:<10} | {c:>2} | {len(lat) / wall:8.1f} | {p50:7.1f} | {p95:7.1f} |"
        )
    lines.append(f"| {n:>9,} | reads answered   | + replica  |    | {reads['+ replica']} | | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000", help="parcel counts, comma-separated")
    parser.add_argument("--reload", action="store_true", help="rewrite the parcels even when already loaded")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(HERE), str(ROOT)]
    from bench_tipg import machine

    head = [
        "| parcels   | what             | reads from |  c |  req/s   | p50 ms  | p95 ms  |",
        "|----------:|------------------|------------|---:|---------:|--------:|--------:|",
    ]
    print("\n".join(head), flush=True)
    lines = []
    for n in (int(s) for s in args.sizes.split(",")):
        for line in bench_size(n, args.reload):
            print(line, flush=True)
            lines.append(line)
    out = HERE / "results" / "replica.md"
    out.parent.mkdir(exist_ok=True)
    title = "# planmap reading from the primary only vs from a streaming replica (same machine)"
    out.write_text("\n".join([title, "", f"`{' '.join(sys.argv)}` on {machine()}", "", *head, *lines, ""]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
