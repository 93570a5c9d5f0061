"""planmap on PostGIS against tipg 1.6 on the same tables: MVT tiles and /items with bbox, over real HTTP.

Run: ``.venv/bin/python tests/bench/run.py tipg`` (100k parcels) or add ``--million`` for 1M too; needs
``pip install -e .[bench]`` (tipg) and PostgreSQL with PostGIS (``PLANMAP_TEST_DATABASE_URL``, default the
local ``planmap_test`` database). Synthetic farmland parcels (5-200 mu, inside Xiangtan) are written with
``PostGISStore.write_layer`` into schema ``bench_<n>`` (kept between runs; ``--reload`` rewrites it). tipg
(``tipg.main:app``) and planmap (``server.main:create_app``) run under uvicorn on free ports, one worker
each, and are measured in turn A B A B A B (three rounds) so drift hits both alike. Cold planmap tiles come
from a server with the tile cache off; warm ones from a second server whose cache was filled by one pass over
the list.
Prints a table and writes ``tests/bench/results/tipg_vs_planmap.md``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DSN = os.environ.get("PLANMAP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/planmap_test")
PROPS = "id,name,status,progress_pct,county"
ZOOMS = range(8, 17)


def load(n: int, reload: bool) -> str:
    """Write ``n`` parcels into schema ``bench_<n>`` unless it already holds them; return the schema."""
    sys.path.insert(0, str(HERE))
    from bench_tiles import synthetic_parcels

    from geo.storage.postgis import PostGISStore

    schema = f"bench_{n}"
    with PostGISStore(DSN, schema=schema) as store:
        if not reload and "farmland" in store.layers() and store.count("farmland") == n:
            return schema
        started = time.perf_counter()
        store.write_layer("farmland", synthetic_parcels(n))
        print(f"loaded {n:,} parcels into {schema} in {time.perf_counter() - started:.0f} s", flush=True)
    return schema


def workload(schema: str, seed: int = 11, per_zoom: int = 6) -> tuple[list[tuple[int, int, int]], list[str]]:
    """Return the fixed tile list (z8-z16 under random parcels) and bbox strings (0.02-0.08 deg boxes)."""
    from geo.storage.base import Filter
    from geo.storage.postgis import PostGISStore
    from geo.tms import get_tms

    rng = np.random.default_rng(seed)
    with PostGISStore(DSN, schema=schema) as store:
        n = store.count("farmland")
        ids = [f"farmland-{i}" for i in rng.choice(n, per_zoom * len(ZOOMS) + 40, replace=False)]
        frame = store.read("farmland", Filter(ids=ids), columns=["id"])
    centres = frame.geometry.representative_point().to_numpy()
    tms = get_tms("WebMercatorQuad")
    tiles = sorted(
        {
            (z, t.x, t.y)
            for i, z in enumerate(np.repeat(list(ZOOMS), per_zoom))
            for t in [tms.tile(centres[i].x, centres[i].y, int(z))]
        }
    )
    sizes = rng.uniform(0.02, 0.08, 40)
    boxes = [
        f"{p.x - s / 2:.5f},{p.y - s / 2:.5f},{p.x + s / 2:.5f},{p.y + s / 2:.5f}"
        for p, s in zip(centres[-40:], sizes, strict=True)
    ]
    return tiles, boxes


class Server:
    """A uvicorn process on a free port, started with extra environment variables."""

    def __init__(self, app: list[str], env: dict[str, str], probe: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            *app,
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        self.proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT)
        self.base = f"http://127.0.0.1:{self.port}"
        self._wait(probe)

    def _wait(self, probe: str) -> None:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(self.base + probe, timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server on {self.base} did not answer {probe}")

    def stop(self) -> None:
        """Stop the process."""
        self.proc.terminate()
        self.proc.wait(timeout=30)


def start_servers(schema: str) -> dict[str, tuple[Server, str]]:
    """Start tipg, planmap with the tile cache off (cold) and planmap with it on (warm)."""
    tipg_env = {
        "DATABASE_URL": DSN,
        "TIPG_DB_SCHEMAS": f'["{schema}"]',
        "TIPG_DB_MAX_CONN_SIZE": "8",
        "TIPG_DB_MIN_CONN_SIZE": "1",
        "TIPG_CATALOG_TTL": "3600",
    }
    plan_env = {
        "PLANMAP_DATABASE_URL": DSN,
        "PLANMAP_DATABASE_SCHEMA": schema,
        "PLANMAP_DATABASE_POOL_SIZE": "8",
        "PLANMAP_DATA_DIR": str(Path("/tmp") / f"planmap-bench-{schema}"),
    }
    tipg = Server(["tipg.main:app"], tipg_env, f"/collections/{schema}.farmland")
    cold = Server(
        ["server.main:create_app", "--factory"],
        {**plan_env, "PLANMAP_TILE_CACHE_ITEMS": "0"},
        "/collections/farmland/items?limit=1",
    )
    warm = Server(["server.main:create_app", "--factory"], plan_env, "/collections/farmland/items?limit=1")
    return {
        "tipg": (tipg, f"/collections/{schema}.farmland"),
        "planmap": (cold, "/collections/farmland"),
        "planmap warm": (warm, "/collections/farmland"),
    }


def run(base: str, urls: list[str], concurrency: int) -> tuple[np.ndarray, float]:
    """Request every URL once with ``concurrency`` threads; return latencies (s) and wall time."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    with httpx.Client(base_url=base, timeout=300, limits=httpx.Limits(max_connections=concurrency)) as client:

        def one(url: str) -> float:
            started = time.perf_counter()
            response = client.get(url)
            if response.status_code not in (200, 204):
                raise RuntimeError(f"{base}{url}: {response.status_code} {response.text[:200]}")
            _ = response.content
            return time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = np.array(list(pool.map(one, urls)))
    return latencies, time.perf_counter() - started


def tile_urls(prefix: str, tiles: list[tuple[int, int, int]], tipg: bool) -> list[str]:
    """Return the tile URLs (tipg gets the same properties as planmap's tiles carry)."""
    query = f"?properties={PROPS}" if tipg else ""
    return [f"{prefix}/tiles/WebMercatorQuad/{z}/{x}/{y}{query}" for z, x, y in tiles]


def measure(servers: dict[str, tuple[Server, str]], rows: list[tuple[str, str, int]], urls: dict, rounds: int = 3):
    """Measure each (row, system, concurrency) ``rounds`` times, interleaving systems A B A B A B per row."""
    results = {}
    for row, system_names, concurrency in rows:
        lat: dict[str, list[np.ndarray]] = {s: [] for s in system_names.split("|")}
        wall = dict.fromkeys(lat, 0.0)
        for _ in range(rounds):
            for system in lat:
                server, _ = servers[system]
                one, seconds = run(server.base, urls[(row, system)], concurrency)
                lat[system].append(one)
                wall[system] += seconds
        for system in lat:
            results[(row, system, concurrency)] = (np.concatenate(lat[system]), wall[system])
    return results


def _line(n: int, what: str, system: str, c: int, lat: np.ndarray, wall: float) -> str:
    p50, p95 = np.percentile(lat * 1000, [50, 95])
    return f"| {n:>9,} | {what:<16} | {system:<12} | {c:>2} | {len(lat) / wall:8.1f} | {p50:8.1f} | {p95:8.1f} |"


def bench_size(n: int, reload: bool) -> list[str]:
    """Run every row for ``n`` parcels and return the table lines."""
    schema = load(n, reload)
    tiles, boxes = workload(schema)
    servers = start_servers(schema)
    try:
        urls = {}
        for system, (_, prefix) in servers.items():
            urls[("tiles", system)] = tile_urls(prefix, tiles, system == "tipg")
            for limit in (100, 1000):
                urls[(f"items {limit}", system)] = [f"{prefix}/items?bbox={b}&limit={limit}" for b in boxes]
        warm, _ = servers["planmap warm"]
        run(warm.base, urls[("tiles", "planmap warm")], 2)  # fills the warm server's cache
        for system in ("tipg", "planmap"):  # imports, connection pools, catalog
            run(servers[system][0].base, urls[("tiles", system)][:3] + urls[("items 100", system)][:3], 1)
        rows = [
            ("tiles", "planmap|tipg", 1),
            ("tiles", "planmap|tipg", 8),
            ("tiles", "planmap warm", 1),
            ("tiles", "planmap warm", 8),
            ("items 100", "planmap|tipg", 1),
            ("items 1000", "planmap|tipg", 1),
            ("items 1000", "planmap|tipg", 8),
        ]
        results = measure(servers, rows, urls)
    finally:
        for server, _ in servers.values():
            server.stop()
    what = {"tiles": f"MVT ({len(tiles)} tiles)", "items 100": "items limit=100", "items 1000": "items limit=1000"}
    return [_line(n, what[row], system, c, *res) for (row, system, c), res in results.items()]


def profile(n: int) -> str:
    """Time planmap's cold tiles in-process per zoom band (on PostGIS one ST_AsMVT query makes the whole tile)."""
    from geo.storage.base import Filter
    from geo.storage.postgis import PostGISStore
    from geo.tms import tile_grid
    from layers.registry import load_catalogue
    from layers.tiles import TileSpec, vector_tile

    layer = load_catalogue().get("farmland")
    tiles, _ = workload(f"bench_{n}")
    lines = []
    with PostGISStore(DSN, schema=f"bench_{n}") as store:
        for band in ((8, 10), (11, 13), (14, 16)):
            total, count = 0.0, 0
            for z, x, y in (t for t in tiles if band[0] <= t[0] <= band[1]):
                grid = tile_grid("WebMercatorQuad", z, x, y)
                _, stats = vector_tile(store, [(layer, Filter())], grid, TileSpec())
                total += stats.query_s
                count += 1
            lines.append(f"z{band[0]}-{band[1]}: {total / max(count, 1) * 1000:.1f} ms")
    return f"{n:,} parcels, planmap in-process per tile (thinning, clipping and encoding in one query): " + "; ".join(
        lines
    )


def machine() -> str:
    """Describe where the run happened (figures move with the CPU: compare rows of one run only)."""
    import platform

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000", help="parcel counts, comma-separated")
    parser.add_argument("--million", action="store_true", help="also run 1,000,000 parcels")
    parser.add_argument("--reload", action="store_true", help="rewrite the parcels even when already loaded")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.million else [])
    head = [
        "| parcels   | what             | system       |  c |  req/s   | p50 ms   | p95 ms   |",
        "|----------:|------------------|--------------|---:|---------:|---------:|---------:|",
    ]
    print("\n".join(head), flush=True)
    lines, notes = [], []
    for n in sizes:
        for line in bench_size(n, args.reload):
            print(line, flush=True)
            lines.append(line)
        notes.append(profile(n))
        print(notes[-1], flush=True)
    out = HERE / "results" / "tipg_vs_planmap.md"
    out.parent.mkdir(exist_ok=True)
    text = "\n".join(
        [
            "# planmap vs tipg on the same PostGIS tables",
            "",
            f"`{' '.join(sys.argv)}` on {machine()}",
            "",
            *head,
            *lines,
            "",
            *[f"- {n}" for n in notes],
            "",
        ]
    )
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
