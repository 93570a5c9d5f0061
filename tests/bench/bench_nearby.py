"""Nearby benchmark: p50/p95 latency of "projects within R metres" at 10k and 100k farmland parcels.

Run: ``.venv/bin/python tests/bench/run.py nearby`` (10k and 100k parcels, radius 2 km, limit 50), or
``.venv/bin/python tests/bench/bench_nearby.py --sizes 10000 --radius 500``. Parcels are synthetic
farmland (5-200 mu rotated rectangles inside Xiangtan's city polygon) written with GeoPackageStore to a
temporary file. Each query point lies within 1.5 km of a random parcel. Three paths are timed on the same
points: the layers function (``find_nearby``), the ASGI app in process (httpx through TestClient) and real
HTTP to a uvicorn process (one keep-alive connection). The first query builds the layer's STRtree; its
time is reported as "index build" and excluded from the percentiles.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

MU_M2 = 10_000 / 15
STATUSES = np.array(["planned", "in_progress", "completed"], dtype=object)


def synthetic_parcels(n: int, seed: int = 11) -> object:
    """Return ``n`` farmland parcels (5-200 mu rotated rectangles) inside Xiangtan, CRS84."""
    import geopandas as gpd
    import shapely

    from layers.boundaries import read_division

    city = read_division("430300")
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = city.bounds
    lon, lat = np.empty(0), np.empty(0)
    while len(lon) < n:
        x, y = rng.uniform(minx, maxx, 2 * n), rng.uniform(miny, maxy, 2 * n)
        inside = shapely.contains_xy(city, x, y)
        lon, lat = np.r_[lon, x[inside]], np.r_[lat, y[inside]]
    lon, lat = lon[:n], lat[:n]
    area = rng.uniform(5, 200, n)
    aspect = rng.uniform(0.5, 2.0, n)
    side = np.sqrt(area * MU_M2)
    hw = side * np.sqrt(aspect) / 2 / (111_320 * np.cos(np.radians(lat)))
    hh = side / np.sqrt(aspect) / 2 / 110_574
    theta = rng.uniform(0, np.pi / 2, n)
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)], dtype=float)
    cx, cy = corners[None, :, 0] * hw[:, None], corners[None, :, 1] * hh[:, None]
    ring_x = lon[:, None] + cx * np.cos(theta)[:, None] - cy * np.sin(theta)[:, None]
    ring_y = lat[:, None] + cx * np.sin(theta)[:, None] + cy * np.cos(theta)[:, None]
    status = STATUSES[rng.integers(0, 3, n)]
    ids = np.char.add("farmland-", np.arange(n).astype(str)).astype(object)
    return gpd.GeoDataFrame(
        {
            "id": ids,
            "name": np.char.add("高标准农田项目区", np.arange(n).astype(str)).astype(object),
            "county": "430321",
            "status": status,
            "progress_pct": np.where(status == "completed", 100.0, np.round(rng.uniform(0, 99, n), 1)),
            "area_mu": np.round(area, 2),
        },
        geometry=shapely.multipolygons(shapely.polygons(np.stack([ring_x, ring_y], axis=-1))[:, None]),
        crs="EPSG:4326",
    )


def query_points(parcels: object, count: int, seed: int = 3) -> list[tuple[float, float]]:
    """Return points within about 1.5 km of random parcels (where field teams stand)."""
    rng = np.random.default_rng(seed)
    centres = parcels.geometry.representative_point()  # type: ignore[attr-defined]
    pick = rng.integers(0, len(centres), count)
    dx, dy = rng.uniform(-0.015, 0.015, count), rng.uniform(-0.012, 0.012, count)
    return [(float(centres.x.iloc[i] + a), float(centres.y.iloc[i] + b)) for i, a, b in zip(pick, dx, dy, strict=True)]


def _timed(call: Callable[[float, float], int], points: list[tuple[float, float]]) -> tuple[np.ndarray, float]:
    ms, hits = [], []
    for lon, lat in points:
        started = time.perf_counter()
        hits.append(call(lon, lat))
        ms.append((time.perf_counter() - started) * 1000)
    return np.array(ms), float(np.mean(hits))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_uvicorn(gpkg: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "PLANMAP_GPKG_PATH": str(gpkg), "PLANMAP_DATA_DIR": str(gpkg.parent)}
    cmd = [sys.executable, "-m", "uvicorn", "server.main:create_app", "--factory", "--port", str(port)]
    proc = subprocess.Popen(cmd + ["--log-level", "warning"], env=env, cwd=Path(__file__).resolve().parents[2])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("uvicorn did not start")


def bench_size(n: int, radius: float, limit: int, queries: int) -> list[tuple[str, ...]]:
    """Return table rows for one dataset size."""
    import httpx
    from fastapi.testclient import TestClient

    from geo.storage.gpkg import GeoPackageStore
    from layers.nearby import find_nearby
    from layers.registry import load_catalogue
    from server.main import create_app
    from server.settings import Settings, StoreSettings

    layer = load_catalogue().get("farmland")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        gpkg = Path(tmp) / "bench.gpkg"
        parcels = synthetic_parcels(n)
        with GeoPackageStore(gpkg) as store:
            store.write_layer("farmland", parcels)  # type: ignore[arg-type]
            points = query_points(parcels, queries)
            started = time.perf_counter()
            find_nearby(store, [layer], *points[0], radius, limit=limit)
            build_s = time.perf_counter() - started
            ms, hits = _timed(lambda x, y: find_nearby(store, [layer], x, y, radius, limit=limit).count, points)
            rows.append(_row(n, "layers.find_nearby", ms, hits, f"{build_s:.2f}"))
        params = {"radius_m": radius, "layers": "farmland", "limit": limit}
        settings = Settings(store=StoreSettings(gpkg_path=gpkg, data_dir=gpkg.parent))
        with TestClient(create_app(settings)) as client:
            client.get("/nearby", params={"lon": points[0][0], "lat": points[0][1], **params})
            ms, hits = _timed(
                lambda x, y: client.get("/nearby", params={"lon": x, "lat": y, **params}).json()["count"], points
            )
            rows.append(_row(n, "ASGI (TestClient)", ms, hits, "-"))
        proc, base = _start_uvicorn(gpkg)
        try:
            with httpx.Client(base_url=base, timeout=120) as http:
                http.get("/nearby", params={"lon": points[0][0], "lat": points[0][1], **params}).raise_for_status()
                ms, hits = _timed(
                    lambda x, y: http.get("/nearby", params={"lon": x, "lat": y, **params}).json()["count"], points
                )
                rows.append(_row(n, "HTTP (uvicorn)", ms, hits, "-"))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return rows


def _row(n: int, path: str, ms: np.ndarray, hits: float, build: str) -> tuple[str, ...]:
    p50, p95 = np.percentile(ms, [50, 95])
    return f"{n:,}", path, f"{p50:.2f}", f"{p95:.2f}", f"{hits:.1f}", build


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--radius", type=float, default=2000.0)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args(argv)
    rows = [row for n in args.sizes for row in bench_size(n, args.radius, args.limit, args.queries)]
    head = ("parcels", "path", "p50 ms", "p95 ms", "mean hits", "index build s")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print(f"nearby: radius {args.radius:g} m, limit {args.limit}, {args.queries} queries per path")
    for line in (head, tuple("-" * w for w in widths), *rows):
        print(" | ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main(sys.argv[1:]))
