"""Tile benchmark: cold/warm MVT latency and throughput at c=1 and c=8, PNG latency, time shares.

Run: ``.venv/bin/python tests/bench/run.py tiles`` (10k and 100k parcels) or add ``--million`` for 1M too,
or ``.venv/bin/python tests/bench/bench_tiles.py --sizes 10000``. Parcels are synthetic farmland (5-200 mu,
inside Xiangtan's county polygons), written with GeoPackageStore to a temporary file and served by uvicorn
over real HTTP. "Cold" is a fresh server process (empty tile cache); "warm" repeats the same list.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

MU_M2 = 10_000 / 15
STATUSES = np.array(["planned", "in_progress", "completed"])
ANCHORS = [  # city government, 易俗河, 湘乡站, 韶山, 湘潭大学, rural 湘潭县, 花石, 九华
    (112.9454, 27.8313),
    (112.9455, 27.7826),
    (112.5239, 27.7480),
    (112.5260, 27.9150),
    (112.8706, 27.8879),
    (112.7000, 27.6000),
    (112.6600, 27.5000),
    (112.8800, 27.9700),
]
ZOOMS = range(8, 17)


def synthetic_parcels(n: int, seed: int = 7) -> object:
    """Return ``n`` farmland parcels (5-200 mu rotated rectangles) inside Xiangtan's counties, CRS84."""
    import geopandas as gpd
    import shapely

    from layers.boundaries import load_boundaries

    counties = load_boundaries().query("level == 'county'").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = counties.total_bounds
    lon, lat, county = np.empty(0), np.empty(0), np.empty(0, dtype=object)
    while len(lon) < n:  # rejection sampling, vectorised per batch
        x, y = rng.uniform(minx, maxx, 2 * n), rng.uniform(miny, maxy, 2 * n)
        for _, row in counties.iterrows():
            inside = shapely.contains_xy(row.geometry, x, y)
            lon, lat = np.r_[lon, x[inside]], np.r_[lat, y[inside]]
            county = np.r_[county, np.full(inside.sum(), row["id"], dtype=object)]
    keep = rng.permutation(len(lon))[:n]
    lon, lat, county = lon[keep], lat[keep], county[keep]
    area = rng.uniform(5, 200, n)
    side = np.sqrt(area * MU_M2)
    aspect = rng.uniform(0.5, 2.0, n)
    hw = side * np.sqrt(aspect) / 2 / (111_320 * np.cos(np.radians(lat)))
    hh = side / np.sqrt(aspect) / 2 / 110_574
    theta = rng.uniform(0, np.pi / 2, n)
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)], dtype=float)
    cx = corners[None, :, 0] * hw[:, None]
    cy = corners[None, :, 1] * hh[:, None]
    ring_x = lon[:, None] + cx * np.cos(theta)[:, None] - cy * np.sin(theta)[:, None]
    ring_y = lat[:, None] + cx * np.sin(theta)[:, None] + cy * np.cos(theta)[:, None]
    polys = shapely.polygons(np.stack([ring_x, ring_y], axis=-1))
    status = STATUSES[rng.integers(0, 3, n)]
    return gpd.GeoDataFrame(
        {
            "id": np.char.add("farmland-", np.arange(n).astype(str)).astype(object),
            "name": np.char.add("高标准农田项目区", np.arange(n).astype(str)).astype(object),
            "county": county,
            "status": status.astype(object),
            "progress_pct": np.where(status == "completed", 100.0, np.round(rng.uniform(0, 99, n), 1)),
            "area_mu": np.round(area, 2),
            "is_demo": True,
        },
        geometry=shapely.multipolygons(polys[:, None]),
        crs="EPSG:4326",
    )


def tile_list(tms_id: str = "WebMercatorQuad") -> list[tuple[int, int, int]]:
    """Return the fixed tile list: the tile under each anchor at every zoom 8-16 (deduplicated)."""
    from geo.tms import get_tms

    tms = get_tms(tms_id)
    tiles = {(z, t.x, t.y) for z in ZOOMS for t in (tms.tile(lon, lat, z) for lon, lat in ANCHORS)}
    return sorted(tiles)


def build_store(n: int, folder: Path) -> tuple[Path, float]:
    """Write ``n`` parcels to a GeoPackage in ``folder``; return its path and the seconds taken."""
    from geo.storage.gpkg import GeoPackageStore

    path = folder / f"parcels-{n}.gpkg"
    started = time.perf_counter()
    frame = synthetic_parcels(n)
    with GeoPackageStore(path) as store:
        store.write_layer("farmland", frame)
    return path, time.perf_counter() - started


def kept_store(n: int, folder: Path) -> Path:
    """Return ``folder/parcels-<n>.gpkg``, written first unless it already holds ``n`` parcels (kept between runs)."""
    from geo.storage.gpkg import GeoPackageStore

    path = folder / f"parcels-{n}.gpkg"
    if path.exists():
        with GeoPackageStore(path) as store:
            if "farmland" in store.layers() and store.count("farmland") == n:
                return path
        path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    path, seconds = build_store(n, folder)
    print(f"wrote {n:,} parcels to {path} in {seconds:.0f} s", flush=True)
    return path


class Server:
    """A uvicorn process serving one GeoPackage (fresh process = empty tile cache)."""

    def __init__(self, gpkg: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {**os.environ, "PLANMAP_GPKG_PATH": str(gpkg), "PLANMAP_DATA_DIR": str(gpkg.parent)}
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "server.main:create_app",
            "--factory",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        self.proc = subprocess.Popen(cmd, env=env, cwd=Path(__file__).resolve().parents[2])
        self.base = f"http://127.0.0.1:{self.port}"
        self._wait()

    def _wait(self) -> None:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(f"{self.base}/tileMatrixSets", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        """Stop the server process."""
        self.proc.terminate()
        self.proc.wait(timeout=20)


def run_list(base: str, urls: list[str], concurrency: int) -> tuple[np.ndarray, float]:
    """Request every URL once with ``concurrency`` threads; return latencies (s) and wall time."""
    import httpx

    with httpx.Client(base_url=base, timeout=120, limits=httpx.Limits(max_connections=concurrency)) as client:

        def one(url: str) -> float:
            started = time.perf_counter()
            response = client.get(url)
            assert response.status_code in (200, 204), (url, response.status_code, response.text[:200])
            return time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = np.array(list(pool.map(one, urls)))
        return latencies, time.perf_counter() - started


def _row(label: str, n: int, lat: np.ndarray, wall: float) -> str:
    p50, p95 = np.percentile(lat * 1000, [50, 95])
    return f"| {n:>9,} | {label:<24} | {p50:8.1f} | {p95:8.1f} | {len(lat) / wall:8.1f} |"


def http_rows(gpkg: Path, n: int, tiles: list[tuple[int, int, int]]) -> list[str]:
    """Measure cold and warm MVT tiles at c=1 and c=8, and cold PNG tiles at c=1, over HTTP."""
    mvt = [f"/tiles/farmland/{z}/{x}/{y}.mvt" for z, x, y in tiles]
    png = [f"/tiles/farmland/{z}/{x}/{y}.png" for z, x, y in tiles]
    rows = []
    for concurrency in (1, 8):
        server = Server(gpkg)
        try:
            run_list(
                server.base, ["/tiles/farmland/16/0/0.mvt", "/tiles/farmland/16/0/0.png"], 1
            )  # imports, connections
            rows.append(_row(f"MVT cold c={concurrency}", n, *run_list(server.base, mvt, concurrency)))
            rows.append(_row(f"MVT warm c={concurrency}", n, *run_list(server.base, mvt * 3, concurrency)))
            if concurrency == 1:
                rows.append(_row("PNG cold c=1", n, *run_list(server.base, png, 1)))
        finally:
            server.stop()
    return rows


def stage_shares(gpkg: Path, tiles: list[tuple[int, int, int]]) -> tuple[str, int]:
    """Build the tiles in-process and return the share of query / clip / encode time and the max features."""
    import time

    from geo import mvt
    from geo.storage.base import Filter
    from geo.storage.gpkg import GeoPackageStore
    from geo.tms import tile_grid
    from layers.registry import load_catalogue
    from layers.tiles import TileSpec, tile_candidates, tile_properties

    layer, spec = load_catalogue().get("farmland"), TileSpec()
    totals, most = np.zeros(3), 0
    with GeoPackageStore(gpkg) as store:
        for z, x, y in tiles:
            grid = tile_grid("WebMercatorQuad", z, x, y)
            started = time.perf_counter()
            frame = tile_candidates(store, layer, grid, Filter(), spec)
            queried = time.perf_counter()
            if frame is None or frame.empty:
                totals[0] += queried - started
                continue
            pixels = grid.to_pixels(frame.geometry.to_numpy(), mvt.EXTENT)
            geoms, kept = mvt.prepare(pixels, mvt.EXTENT, spec.buffer)
            clipped = time.perf_counter()
            names = tile_properties(layer)
            props = frame.loc[kept, names].to_dict("records")
            mvt.encode([mvt.TileLayer(layer.id, geoms, props)])
            totals += (queried - started, clipped - queried, time.perf_counter() - clipped)
            most = max(most, len(geoms))
    shares = totals / totals.sum() * 100
    return f"query {shares[0]:.0f}% / clip {shares[1]:.0f}% / encode {shares[2]:.0f}%", most


def encoder_comparison() -> str:
    """Time planmap's vectorised encoder, mapbox-vector-tile and DuckDB spatial ST_AsMVT on 2,000 polygons."""
    import mapbox_vector_tile

    import shapely

    from geo import mvt

    rng = np.random.default_rng(1)
    c, r = rng.uniform(100, 3996, (2000, 2)), rng.uniform(5, 60, 2000)
    polys = shapely.buffer(shapely.points(c), r, quad_segs=2)
    props = [{"id": f"f{i}", "status": "completed", "progress_pct": 50.0} for i in range(2000)]
    t_ours = _best(lambda: mvt.encode([mvt.TileLayer("farmland", polys, props)]))
    features = [{"geometry": g, "properties": p} for g, p in zip(polys, props, strict=True)]
    options = {"quantize_bounds": None, "y_coord_down": True}
    t_mapbox = _best(
        lambda: mapbox_vector_tile.encode([{"name": "farmland", "features": features}], default_options=options)
    )
    text = f"planmap {t_ours * 1000:.1f} ms, mapbox-vector-tile {t_mapbox * 1000:.1f} ms"
    try:
        return f"{text}, DuckDB ST_AsMVT {_duckdb_time(polys) * 1000:.1f} ms per 2,000 polygons"
    except ImportError:
        return f"{text} per 2,000 polygons (DuckDB not installed)"


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _duckdb_time(polys: np.ndarray) -> float:
    import duckdb
    import duckdb_extension_spatial
    import pyarrow as pa

    import shapely

    ext = next(Path(duckdb_extension_spatial.__file__).parent.glob("extensions/*/spatial.duckdb_extension"))
    con = duckdb.connect()
    con.execute(f"LOAD '{ext}'")
    n = len(polys)
    table = pa.table({"id": [f"f{i}" for i in range(n)], "status": ["completed"] * n, "wkb": shapely.to_wkb(polys)})
    con.register("t", table)
    sql = (
        "SELECT ST_AsMVT({'geometry': ST_AsMVTGeom(ST_GeomFromWKB(wkb), ST_Extent(ST_MakeEnvelope(0, 0, 4096, "
        "4096)), 4096, 64, true), 'id': id, 'status': status}, 'farmland') FROM t"
    )
    return _best(lambda: con.execute(sql).fetchone())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="parcel counts, comma-separated")
    parser.add_argument("--million", action="store_true", help="also run 1,000,000 parcels")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.million else [])
    tiles = tile_list()
    print(f"{len(tiles)} tiles (z8-z16 under {len(ANCHORS)} anchors); encoders: {encoder_comparison()}")
    print("| parcels   | what                     | p50 ms   | p95 ms   | tiles/s  |")
    print("|----------:|--------------------------|---------:|---------:|---------:|")
    notes = []
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            gpkg, seconds = build_store(n, Path(folder))
            for row in http_rows(gpkg, n, tiles):
                print(row, flush=True)
            shares, most = stage_shares(gpkg, tiles)
            notes.append(f"{n:,} parcels: built in {seconds:.1f} s; cold time {shares}; max {most} features/tile")
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
