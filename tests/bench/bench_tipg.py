"""planmap (GeoPackage and PostGIS stores) against tipg 1.6 on the same parcels: MVT tiles and /items, over HTTP.

Run: ``.venv/bin/python tests/bench/run.py tipg`` (10k and 100k parcels) or add ``--million`` for 1M too;
``--before PATH`` also serves the planmap checkout at PATH (e.g. a worktree of main) so before and after
are measured in one run. tipg runs from its own virtual environment (``PLANMAP_BENCH_TIPG_PYTHON``, else
``../venv-bench/bin/python`` beside the checkout when it exists, else this Python; make one with
``python3 -m venv venv-bench && venv-bench/bin/pip install "tipg>=1.6" uvicorn``), so its pins do not move
the project's. PostgreSQL with PostGIS is needed (``PLANMAP_TEST_DATABASE_URL``, default the local
``planmap_test`` database). Synthetic farmland parcels (5-200 mu, inside Xiangtan) are written with
``PostGISStore.write_layer`` into schema ``bench_<n>`` and with ``GeoPackageStore`` into
``--data-dir/parcels-<n>.gpkg`` (both kept between runs; ``--reload`` rewrites the schema).

Two tile lists: **equal work**, z12-z16 tiles where every system sends exactly the same parcels (the
tiles are decoded and only those whose feature ids agree are kept; features/tile and bytes/tile are
printed beside req/s), and **mixed**, z8-z16 under random parcels, where planmap's thinning sends far
fewer features at low zoom. Each server is a uvicorn process (``--workers``, 1 by default, for every
system); planmap's tile cache is off except in the "warm" row. Rows are measured A B A B A B (three
rounds) so drift hits every system alike; in each round ``wrk`` (``tests/bench/wrkload.py``) cycles through
the list for ``ROUND_SECONDS`` (without wrk, each URL once from httpx threads, whose CPU competes with the
servers'). Ports come from ``PLANMAP_BENCH_PORTS`` (``8670-8689``) when set.
Prints a table and writes ``tests/bench/results/tipg_vs_planmap.md``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import wrkload  # noqa: E402

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


def workload(
    schema: str, seed: int = 11, per_zoom: int = 6, zooms: range = ZOOMS
) -> tuple[list[tuple[int, int, int]], list[str]]:
    """Return the fixed tile list (``zooms`` under random parcels) and bbox strings (0.02-0.08 deg boxes)."""
    from geo.storage.base import Filter
    from geo.storage.postgis import PostGISStore
    from geo.tms import get_tms

    rng = np.random.default_rng(seed)
    with PostGISStore(DSN, schema=schema) as store:
        n = store.count("farmland")
        ids = [f"farmland-{i}" for i in rng.choice(n, per_zoom * len(zooms) + 40, replace=False)]
        frame = store.read("farmland", Filter(ids=ids), columns=["id"])
    centres = frame.geometry.representative_point().to_numpy()
    tms = get_tms("WebMercatorQuad")
    tiles = sorted(
        {
            (z, t.x, t.y)
            for i, z in enumerate(np.repeat(list(zooms), per_zoom))
            for t in [tms.tile(centres[i].x, centres[i].y, int(z))]
        }
    )
    sizes = rng.uniform(0.02, 0.08, 40)
    boxes = [
        f"{p.x - s / 2:.5f},{p.y - s / 2:.5f},{p.x + s / 2:.5f},{p.y + s / 2:.5f}"
        for p, s in zip(centres[-40:], sizes, strict=True)
    ]
    return tiles, boxes


def tipg_python() -> str:
    """Return the Python that runs tipg: ``PLANMAP_BENCH_TIPG_PYTHON``, ``../venv-bench`` or this one."""
    configured = os.environ.get("PLANMAP_BENCH_TIPG_PYTHON")
    if configured:
        return configured
    beside = ROOT.parent / "venv-bench" / "bin" / "python"
    return str(beside) if beside.exists() else sys.executable


def free_port() -> int:
    """Return a free port: the first free one of ``PLANMAP_BENCH_PORTS`` (``lo-hi``) when set, else any."""
    span = os.environ.get("PLANMAP_BENCH_PORTS")
    candidates = range(int(span.split("-")[0]), int(span.split("-")[1]) + 1) if span else [0]
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError(f"no free port in {span}")


class Server:
    """A server process on a free port: ``python -m ARGS --port N``, with extra environment variables.

    ``tree`` is the checkout it runs from (its directory first on ``PYTHONPATH``).
    """

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        probe: str,
        python: str = sys.executable,
        tree: Path = ROOT,
    ) -> None:
        self.port = free_port()
        cmd = [python, "-m", *args, "--port", str(self.port)]
        full_env = {**os.environ, "PYTHONPATH": str(tree), **env}
        self.proc = subprocess.Popen(cmd, env=full_env, cwd=tree, stdout=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        self._wait(probe)

    def _wait(self, probe: str) -> None:
        import httpx

        for _ in range(600):
            try:
                if httpx.get(self.base + probe, timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server on {self.base} did not answer {probe}")

    def pids(self) -> list[int]:
        """Return the process and its worker processes (uvicorn's children)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    todo += [int(c) for c in (task / "children").read_text().split()]
                except OSError:
                    pass
        return found

    def stop(self) -> None:
        """Stop the process (and its workers)."""
        self.proc.terminate()
        self.proc.wait(timeout=60)


def uvicorn_args(app: str, workers: int) -> list[str]:
    """Return ``-m`` arguments serving ``app`` (a factory when it ends with ``()``) with uvicorn."""
    factory = ["--factory"] if app.endswith("()") else []
    return [
        "uvicorn",
        app.removesuffix("()"),
        *factory,
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def planmap_env(store: str, n: int, data_dir: Path, cache: bool) -> dict[str, str]:
    """Return the environment of a planmap server on the GeoPackage (``gpkg``) or PostGIS store of ``n`` parcels."""
    env = {"PLANMAP_DATA_DIR": str(data_dir / f"planmap-{store}-{n}"), "PLANMAP_DATABASE_POOL_SIZE": "8"}
    if store == "gpkg":
        env["PLANMAP_GPKG_PATH"] = str(data_dir / f"parcels-{n}.gpkg")
    else:
        env |= {"PLANMAP_DATABASE_URL": DSN, "PLANMAP_DATABASE_SCHEMA": f"bench_{n}"}
    return env if cache else {**env, "PLANMAP_TILE_CACHE_ITEMS": "0"}


PROBE = "/collections/farmland/items?limit=1"


def start_servers(n: int, data_dir: Path, workers: int, before: Path | None) -> dict[str, tuple[Server, str]]:
    """Start tipg, planmap on each store with the tile cache off, planmap GeoPackage with it on (and ``before``'s)."""
    schema = f"bench_{n}"
    tipg_env = {
        "DATABASE_URL": DSN,
        "TIPG_DB_SCHEMAS": f'["{schema}"]',
        "TIPG_DB_MAX_CONN_SIZE": "8",
        "TIPG_DB_MIN_CONN_SIZE": "1",
        "TIPG_CATALOG_TTL": "3600",
        "PYTHONPATH": "",
    }
    servers = {
        "tipg": (
            Server(
                uvicorn_args("tipg.main:app", workers),
                tipg_env,
                f"/collections/{schema}.farmland",
                python=tipg_python(),
            ),
            f"/collections/{schema}.farmland",
        )
    }
    trees = [("planmap", ROOT)] + ([("main", before)] if before else [])
    app = uvicorn_args("server.main:create_app()", workers)
    for name, tree in trees:
        for store in ("gpkg", "postgis"):
            env = planmap_env(store, n, data_dir, cache=False)
            servers[f"{name} {store}"] = (Server(app, env, PROBE, tree=tree), "/collections/farmland")
    warm = Server(app, planmap_env("gpkg", n, data_dir, cache=True), PROBE)
    servers["planmap gpkg warm"] = (warm, "/collections/farmland")
    return servers


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


def decoded_ids(base: str, urls: list[str]) -> list[tuple[frozenset[str], int]]:
    """Fetch each tile once; return its feature ids and its size in bytes (as sent, before any gzip)."""
    import httpx
    import mapbox_vector_tile

    out = []
    with httpx.Client(base_url=base, timeout=300) as client:
        for url in urls:
            response = client.get(url)
            layers = mapbox_vector_tile.decode(response.content) if response.status_code == 200 else {}
            ids = frozenset(str(f["properties"].get("id")) for layer in layers.values() for f in layer["features"])
            out.append((ids, len(response.content)))
    return out


def equal_work_tiles(
    servers: dict[str, tuple[Server, str]], n: int, per_zoom: int = 40
) -> tuple[list[tuple[int, int, int]], dict[str, tuple[float, float]]]:
    """Return z12-z16 tiles where every cold system sends the same parcels, and features/bytes per tile by system."""
    tiles = workload(f"bench_{n}", seed=23, per_zoom=per_zoom, zooms=range(12, 17))[0]
    systems = [s for s in servers if not s.endswith("warm")]
    seen = {s: decoded_ids(servers[s][0].base, tile_urls(servers[s][1], tiles, s == "tipg")) for s in systems}
    keep = [i for i in range(len(tiles)) if seen["tipg"][i][0] and len({seen[s][i][0] for s in systems}) == 1]
    sizes = {
        s: (float(np.mean([len(seen[s][i][0]) for i in keep])), float(np.mean([seen[s][i][1] for i in keep])))
        for s in systems
    }
    return [tiles[i] for i in keep], sizes


def tile_sizes(
    servers: dict[str, tuple[Server, str]], tiles: list[tuple[int, int, int]]
) -> dict[str, tuple[float, float]]:
    """Return the mean features and bytes per tile of each system on ``tiles``."""
    out = {}
    for system, (server, prefix) in servers.items():
        seen = decoded_ids(server.base, tile_urls(prefix, tiles, system == "tipg"))
        out[system] = (float(np.mean([len(ids) for ids, _ in seen])), float(np.mean([b for _, b in seen])))
    return out


ROUND_SECONDS = 4.0
"""How long wrk cycles through a list per system and round."""


def load_once(base: str, urls: list[str], concurrency: int) -> wrkload.Load:
    """Load ``base`` with ``urls``: wrk cycling through them for ``ROUND_SECONDS``, else each once from httpx."""
    if wrkload.available():
        return wrkload.wrk(base, urls, concurrency, ROUND_SECONDS)
    latencies, wall = run(base, urls, concurrency)
    p50, p95 = np.percentile(latencies * 1000, [50, 95])
    return wrkload.Load(len(latencies), wall, float(p50), float(p95))


def measure(servers: dict[str, tuple[Server, str]], rows: list[tuple[str, str, int]], urls: dict, rounds: int = 3):
    """Measure each (row, system, concurrency) ``rounds`` times, interleaving systems A B A B A B per row.

    Each result is the rounds' total requests over their total time and the median of their percentiles.
    """
    results = {}
    for row, system_names, concurrency in rows:
        loads: dict[str, list[wrkload.Load]] = {s: [] for s in system_names.split("|")}
        for _ in range(rounds):
            for system in loads:
                server, _ = servers[system]
                loads[system].append(load_once(server.base, urls[(row, system)], concurrency))
        for system, done in loads.items():
            results[(row, system, concurrency)] = wrkload.Load(
                sum(d.requests for d in done),
                sum(d.seconds for d in done),
                float(np.median([d.p50_ms for d in done])),
                float(np.median([d.p95_ms for d in done])),
            )
    return results


def _line(n: int, what: str, system: str, c: int, res: wrkload.Load, size: tuple, tipg: float) -> str:
    ratio = f"{res.rate / tipg:5.2f}x" if tipg else "     "
    features, nbytes = size if size else (float("nan"), float("nan"))
    return (
        f"| {n:>9,} | {what:<18} | {system:<18} | {c:>2} | {res.rate:8.1f} | {ratio} | {res.p50_ms:8.1f} "
        f"| {res.p95_ms:8.1f} | {features:7.0f} | {nbytes / 1024:7.1f} |"
    )


HEAD = [
    "| parcels   | what               | system             |  c |  req/s   | /tipg  | p50 ms   | p95 ms   "
    "| feat/t  | KiB/t   |",
    "|----------:|--------------------|--------------------|---:|---------:|-------:|---------:|---------:"
    "|--------:|--------:|",
]


def bench_size(n: int, reload: bool, data_dir: Path, workers: int, before: Path | None) -> list[str]:
    """Run every row for ``n`` parcels and return the table lines."""
    sys.path.insert(0, str(HERE))
    from bench_tiles import kept_store

    load(n, reload)
    kept_store(n, data_dir)
    mixed, boxes = workload(f"bench_{n}")
    servers = start_servers(n, data_dir, workers, before)
    try:
        equal, equal_sizes = equal_work_tiles(servers, n)
        sizes = {"equal": equal_sizes, "mixed": tile_sizes(servers, mixed)}
        print(f"{n:,} parcels: {len(equal)} equal-work tiles (z12-z16), {len(mixed)} mixed tiles (z8-z16)", flush=True)
        urls: dict[tuple[str, str], list[str]] = {}
        for system, (_, prefix) in servers.items():
            urls[("equal", system)] = tile_urls(prefix, equal, system == "tipg")
            urls[("mixed", system)] = tile_urls(prefix, mixed, system == "tipg")
            for limit in (100, 1000):
                urls[(f"items {limit}", system)] = [f"{prefix}/items?bbox={b}&limit={limit}" for b in boxes]
        warm, _ = servers["planmap gpkg warm"]
        run(warm.base, urls[("mixed", "planmap gpkg warm")] + urls[("equal", "planmap gpkg warm")], 2)
        cold = "|".join(s for s in servers if not s.endswith("warm"))
        pg = "|".join(s for s in servers if s == "tipg" or s.endswith("postgis"))
        lists = ("equal", "mixed") if equal else ("mixed",)  # at 1M thinning can leave no tile equal
        rows = [(what, systems, c) for what in lists for c in (1, 16) for systems in (cold, "planmap gpkg warm")]
        rows += [("items 100", pg, 1), ("items 1000", pg, 1), ("items 1000", pg, 16)]
        results = measure(servers, rows, urls)
    finally:
        for server, _ in servers.values():
            server.stop()
    what = {
        "equal": f"equal z12-16 ({len(equal)})",
        "mixed": f"mixed z8-16 ({len(mixed)})",
        "items 100": "items limit=100",
        "items 1000": "items limit=1000",
    }
    lines = []
    for (row, system, c), res in results.items():
        tipg = results.get((row, "tipg", c))
        tipg_rate = tipg.rate if tipg else 0.0
        size = sizes.get(row, {}).get(system.removesuffix(" warm"), ())  # a warm server sends the cold one's tiles
        lines.append(_line(n, what[row], system, c, res, size, tipg_rate))
    return lines


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
    parser.add_argument("--sizes", default="10000,100000", help="parcel counts, comma-separated")
    parser.add_argument("--million", action="store_true", help="also run 1,000,000 parcels")
    parser.add_argument("--reload", action="store_true", help="rewrite the parcels even when already loaded")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of every server")
    parser.add_argument("--before", type=Path, help="also serve the planmap checkout at this path (before/after)")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "planmap-bench", help="kept GeoPackages"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process per-zoom profile")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.million else [])
    print("\n".join(HEAD), flush=True)
    lines, notes = [], []
    for n in sizes:
        for line in bench_size(n, args.reload, args.data_dir, args.workers, args.before):
            print(line, flush=True)
            lines.append(line)
        if not args.no_profile:
            notes.append(profile(n))
            print(notes[-1], flush=True)
    out = HERE / "results" / "tipg_vs_planmap.md"
    out.parent.mkdir(exist_ok=True)
    text = "\n".join(
        [
            "# planmap (GeoPackage and PostGIS) vs tipg on the same parcels",
            "",
            f"`{' '.join(sys.argv)}` on {machine()}",
            "",
            *HEAD,
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
