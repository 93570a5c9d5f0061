"""How planmap scales with clients and workers: cold tiles at 1 and 16 clients, memory and the first /nearby
at 1M parcels, and cached tiles and 304s, each served by ``planmap serve`` as a deployment runs it.

Run: ``.venv/bin/python tests/bench/run.py scaling`` (10k and 100k parcels; ``--million`` adds 1M, which also
runs the memory rows) and ``--before PATH`` to serve the planmap checkout at PATH too (e.g. a worktree of
main), so before and after are measured in one run. Every server is ``python -m server.cli serve`` with
its checkout's default worker count (this checkout: one per core). Parcels are the synthetic farmland of
``bench_tiles`` (GeoPackage files kept in ``--data-dir``) and of ``bench_tipg`` (PostGIS schema
``bench_<n>`` in ``PLANMAP_TEST_DATABASE_URL``).

- **scaling**: the z8-z16 tile list of ``bench_tiles`` (tile cache off) at 1 and 16 connections, per store,
  cycled for ``COLD_SECONDS`` by ``wrk`` when installed (else each tile once from httpx threads, whose own CPU
  then competes with the server's); medians of the rounds, 16-connection req/s over 1-connection req/s, and
  the slowest 16-connection round (where connections opened at once all landed on one worker, if any did).
- **memory (1M parcels, GeoPackage)**: the first ``/nearby`` (2 km) after start, then the tile list and 200
  nearby queries at 16 clients while each worker's ``RssAnon`` and ``VmRSS`` (``/proc/PID/status``) are
  sampled every 50 ms; peaks per worker are printed.
- **cached**: the tile list from a filled cache and as 304s (``If-None-Match``) at 16 connections, with
  ``wrk`` when it is installed (``apt-get install wrk``; a Python client uses a core of its own otherwise).

Systems are measured A B A B A B (three rounds). Ports come from ``PLANMAP_BENCH_PORTS`` when set.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import wrkload  # noqa: E402
from bench_tiles import ANCHORS, kept_store, tile_list  # noqa: E402
from bench_tipg import PROBE, Server, load, planmap_env, run  # noqa: E402

ROUNDS = 3


def serve(tree: Path, env: dict[str, str]) -> Server:
    """Start ``planmap serve`` from ``tree`` (its default workers) and wait for it."""
    return Server(["server.cli", "serve", "--host", "127.0.0.1"], env, PROBE, tree=tree)


def tile_paths() -> list[str]:
    """Return the z8-z16 tile paths under the anchors (``bench_tiles.tile_list``)."""
    return [f"/collections/farmland/tiles/WebMercatorQuad/{z}/{x}/{y}" for z, x, y in tile_list()]


def nearby_paths(count: int, seed: int = 3) -> list[str]:
    """Return ``/nearby`` requests (2 km, 50 nearest farmland parcels) around the anchors."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(ANCHORS), count)
    jitter = rng.uniform(-0.02, 0.02, (count, 2))
    return [
        f"/nearby?lon={ANCHORS[i][0] + dx:.5f}&lat={ANCHORS[i][1] + dy:.5f}&radius_m=2000&limit=50&layers=farmland"
        for i, (dx, dy) in zip(picks, jitter, strict=True)
    ]


COLD_SECONDS = 8.0
"""How long wrk cycles through the cold tile list per measurement."""


def rate(base: str, urls: list[str], clients: int) -> float:
    """Return requests per second over ``urls`` at ``clients`` concurrent connections.

    With ``wrk`` the list is cycled for ``COLD_SECONDS`` (a client in C: the 16-connection row is not held
    back by a Python client competing for the same two cores); without it, each URL once with httpx threads.
    """
    if wrkload.available():
        return wrkload.wrk(base, urls, clients, COLD_SECONDS).rate
    latencies, wall = run(base, urls, clients)
    return len(latencies) / wall


def scaling_rows(n: int, data_dir: Path, trees: dict[str, Path]) -> list[str]:
    """Cold tiles at 1 and 16 clients per store and checkout."""
    urls = tile_paths()
    lines = []
    for store in ("gpkg", "postgis"):
        servers = {name: serve(tree, planmap_env(store, n, data_dir, cache=False)) for name, tree in trees.items()}
        try:
            for server in servers.values():
                run(server.base, urls[:6], 2)  # imports and connections in every worker
            got: dict[tuple[str, int], list[float]] = {}
            for _ in range(ROUNDS):
                for clients in (1, 16):
                    for name, server in servers.items():
                        got.setdefault((name, clients), []).append(rate(server.base, urls, clients))
        finally:
            for server in servers.values():
                server.stop()
        for name in trees:
            one, many = float(np.median(got[(name, 1)])), float(np.median(got[(name, 16)]))
            worst = min(got[(name, 16)])
            lines.append(
                f"| {n:>9,} | {store:<7} | {name:<8} | {one:8.1f} | {many:8.1f} | {many / one:5.2f}x "
                f"| {worst:8.1f} | {worst / one:5.2f}x |"
            )
    return lines


def _status(pid: int) -> dict[str, int]:
    """Return ``RssAnon`` and ``VmRSS`` of a process in KiB (empty once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {k: int(v.split()[0]) for k, v in re.findall(r"^(RssAnon|VmRSS):\s+(.+)$", text, re.M)}


class Sampler:
    """Sample the memory of a server's processes every 50 ms in a thread; keep each one's peaks."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peaks: dict[int, dict[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid in self.server.pids():
                for key, value in _status(pid).items():
                    peak = self.peaks.setdefault(pid, {})
                    peak[key] = max(peak.get(key, 0), value)
            time.sleep(0.05)

    def stop(self) -> dict[int, dict[str, int]]:
        """Stop sampling; return the peaks of the worker processes (the supervisor left out when it has any)."""
        self._stop.set()
        self._thread.join()
        workers = [pid for pid in self.peaks if pid != self.server.proc.pid]
        return {pid: self.peaks[pid] for pid in workers or list(self.peaks)}


def memory_rows(n: int, data_dir: Path, trees: dict[str, Path]) -> list[str]:
    """First /nearby, then tiles and nearby at 16 clients with worker memory sampled (GeoPackage store)."""
    import httpx

    lines = []
    nearby = nearby_paths(200)
    for name, tree in trees.items():
        server = serve(tree, planmap_env("gpkg", n, data_dir, cache=False))
        sampler = Sampler(server)
        try:
            started = time.perf_counter()
            httpx.get(server.base + nearby[0], timeout=600).raise_for_status()
            first = time.perf_counter() - started
            tiles = rate(server.base, tile_paths(), 16)
            latencies, wall = run(server.base, nearby, 16)
        finally:
            peaks = sampler.stop()
            server.stop()
        anon = max(p.get("RssAnon", 0) for p in peaks.values()) / 1024**2
        rss = max(p.get("VmRSS", 0) for p in peaks.values()) / 1024**2
        p50 = float(np.percentile(latencies, 50)) * 1000
        lines.append(
            f"| {n:>9,} | {name:<8} | {len(peaks):>7} | {anon:8.2f} | {rss:8.2f} | {first:8.2f} | {p50:8.1f} "
            f"| {len(latencies) / wall:8.1f} | {tiles:8.1f} |"
        )
    return lines


def cached_rate(base: str, paths: list[str], etags: list[str], seconds: float = 4.0) -> float:
    """Return req/s over ``paths`` (with ``If-None-Match: etags`` when given) at 16 connections."""
    if not wrkload.available():
        import httpx

        headers = [{"If-None-Match": e} for e in etags] if etags else [{} for _ in paths]
        count = 0
        with httpx.Client(base_url=base, limits=httpx.Limits(max_connections=16)) as client:
            from concurrent.futures import ThreadPoolExecutor

            started = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                while time.perf_counter() - started < seconds:
                    list(pool.map(lambda ph: client.get(ph[0], headers=ph[1]), zip(paths, headers, strict=True)))
                    count += len(paths)
            return count / (time.perf_counter() - started)
    return wrkload.wrk(base, paths, 16, seconds, etags).rate


def cached_rows(n: int, data_dir: Path, trees: dict[str, Path]) -> list[str]:
    """Cached tiles (200 from the cache) and 304s at 16 connections, GeoPackage and PostGIS stores."""
    import httpx

    paths = tile_paths()
    lines = []
    for store in ("gpkg", "postgis"):
        servers = {name: serve(tree, planmap_env(store, n, data_dir, cache=True)) for name, tree in trees.items()}
        try:
            etags = {}
            for name, server in servers.items():
                with httpx.Client(base_url=server.base, timeout=300) as client:
                    for _ in range(2):  # fill the cache of both workers (connections land on either)
                        run(server.base, paths, 4)
                    etags[name] = [client.get(p, headers={"Accept-Encoding": "gzip"}).headers["etag"] for p in paths]
            got: dict[tuple[str, str], list[float]] = {}
            for _ in range(ROUNDS):
                for kind in ("200", "304"):
                    for name, server in servers.items():
                        tags = etags[name] if kind == "304" else []
                        got.setdefault((name, kind), []).append(cached_rate(server.base, paths, tags))
        finally:
            for server in servers.values():
                server.stop()
        for name in trees:
            ok, nm = float(np.median(got[(name, "200")])), float(np.median(got[(name, "304")]))
            lines.append(f"| {n:>9,} | {store:<7} | {name:<8} | {ok:8.0f} | {nm:8.0f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the three tables and print them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="parcel counts, comma-separated")
    parser.add_argument("--million", action="store_true", help="also 1,000,000 parcels (GeoPackage memory rows)")
    parser.add_argument("--before", type=Path, help="also serve the planmap checkout at this path")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "planmap-bench", help="kept GeoPackages"
    )
    parser.add_argument("--only", default="scaling,memory,cached", help="tables to run, comma-separated")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    trees = {"this tree": ROOT} | ({"before": args.before} if args.before else {})
    only = set(args.only.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    for n in sizes:
        load(n, False)
        kept_store(n, args.data_dir)
    if "scaling" in only:
        client = f"wrk, {COLD_SECONDS:g} s each" if wrkload.available() else "httpx, each tile once"
        print(f"| parcels   | store   | checkout | c=1 /s   | c=16 /s  | 16/1   | c=16 min | min/1  |   ({client})")
        print("|----------:|---------|----------|---------:|---------:|-------:|---------:|-------:|", flush=True)
        for n in sizes:
            print("\n".join(scaling_rows(n, args.data_dir, trees)), flush=True)
    if "memory" in only and args.million:
        kept_store(1_000_000, args.data_dir)
        print(
            "\n| parcels   | checkout | workers | anon GiB | RSS GiB  | 1st near s | near p50 ms | near/s | tiles/s |"
        )
        print("|----------:|----------|--------:|---------:|---------:|---------:|---------:|---------:|---------:|")
        print("\n".join(memory_rows(1_000_000, args.data_dir, trees)), flush=True)
    if "cached" in only:
        client = "wrk" if wrkload.available() else "httpx"
        print(f"\n| parcels   | store   | checkout | cached/s | 304/s    |   ({client}, 16 connections)")
        print("|----------:|---------|----------|---------:|---------:|", flush=True)
        print("\n".join(cached_rows(sizes[-1], args.data_dir, trees)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
