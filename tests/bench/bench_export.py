"""Export benchmark: time, throughput and peak memory for GeoJSON, GeoPackage and CSV at 10k and 100k parcels.

Run: ``.venv/bin/python tests/bench/run.py export`` (or ``.venv/bin/python tests/bench/bench_export.py``).
Each export runs in a fresh subprocess. Peak RSS is the kernel's high-water mark (``VmHWM`` in
/proc/self/status, reset through /proc/self/clear_refs just before the export; ``ru_maxrss`` is no good
here because Linux carries it over from the parent across execve). tracemalloc's peak (Python allocations
only) is measured in a separate run and reported alongside.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

XIANGTAN = (112.42, 27.62, 113.08, 28.08)
COUNTIES = ("430302", "430304", "430321", "430381", "430382")
COUNTY_NAMES = ("雨湖区", "岳塘区", "湘潭县", "湘乡市", "韶山市")
STATUSES = ("planned", "in_progress", "completed")
MU_M2 = 10000 / 15


def synthetic_farmland(n: int, seed: int = 7):
    """Return ``n`` farmland parcels (5-200 mu, jittered rectangles) inside Xiangtan's bbox, CRS84."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    lon = rng.uniform(XIANGTAN[0], XIANGTAN[2], n)
    lat = rng.uniform(XIANGTAN[1], XIANGTAN[3], n)
    area_mu = rng.uniform(5, 200, n)
    side = np.sqrt(area_mu * MU_M2)
    aspect = rng.uniform(0.5, 2.0, n)
    w_m, h_m = side * np.sqrt(aspect), side / np.sqrt(aspect)
    dx = w_m / (111_320 * np.cos(np.radians(lat))) / 2
    dy = h_m / 110_574 / 2
    polys = shapely.box(lon - dx, lat - dy, lon + dx, lat + dy)
    county = rng.integers(0, len(COUNTIES), n)
    start = date(2024, 10, 1)
    return gpd.GeoDataFrame(
        {
            "id": [f"farmland-{i:06d}" for i in range(n)],
            "name": [f"{COUNTY_NAMES[c]}高标准农田项目区{i}" for i, c in enumerate(county)],
            "county": [COUNTIES[c] for c in county],
            "county_name": [COUNTY_NAMES[c] for c in county],
            "status": [STATUSES[s] for s in rng.integers(0, 3, n)],
            "progress_pct": np.round(rng.uniform(0, 100, n), 1),
            "start_date": [(start + timedelta(days=int(d))).isoformat() for d in rng.integers(0, 200, n)],
            "owner": "湘潭市农业农村局",
            "area_mu": np.round(area_mu, 2),
            "build_type": np.where(rng.random(n) < 0.6, "新建", "改造提升"),
            "project_year": 2025,
        },
        geometry=[shapely.MultiPolygon([p]) for p in polys],
        crs="EPSG:4326",
    )


def build_store(n: int, path: Path) -> Path:
    """Write ``n`` synthetic parcels as the ``farmland`` layer of a GeoPackageStore at ``path``."""
    from geo.storage.gpkg import GeoPackageStore

    with GeoPackageStore(path) as store:
        store.write_layer("farmland", synthetic_farmland(n))
    return path


def _vm(key: str) -> float:
    """Return a /proc/self/status memory figure (VmRSS, VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def _child(store_path: str, fmt_name: str, trace: bool) -> None:
    """Run one export in this (fresh) process and print its measurements as JSON."""
    import tracemalloc

    from geo.storage.gpkg import GeoPackageStore
    from geo.writers import parse_format
    from layers.export import prepare_export, write_export
    from layers.query import Selection
    from layers.registry import load_catalogue

    layer = load_catalogue().get("farmland")
    fmt = parse_format(fmt_name.removesuffix("-whole"))
    with GeoPackageStore(store_path) as store, tempfile.TemporaryDirectory() as tmp:
        store.count("farmland")  # open the connection before the baseline
        baseline_mb = _vm("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        job = prepare_export(store, layer, Selection())
        out = Path(tmp) / f"out.{fmt.ext}"
        if fmt_name.endswith("-whole"):  # reference: the whole layer in one frame, encoded in one string
            out.write_text(store.read("farmland").to_json(na="null", ensure_ascii=False), encoding="utf-8")
        else:
            write_export(job, fmt, out)
        elapsed = time.perf_counter() - started
        traced = tracemalloc.get_traced_memory()[1] if trace else 0
        result = {
            "seconds": elapsed,
            "bytes": out.stat().st_size,
            "features": job.matched,
            "baseline_mb": baseline_mb,
            "peak_rss_mb": _vm("VmHWM"),
            "traced_peak_mb": traced / 2**20,
        }
    print(json.dumps(result))


def _measure(store: Path, fmt: str, trace: bool) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", str(store), fmt] + (["--trace"] if trace else [])
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ogr2ogr(store: Path, out: Path) -> dict[str, float]:
    """Time ``ogr2ogr -f GeoJSON`` of the whole ``farmland`` table (7 decimals, as planmap writes) with its peak RSS."""
    out.unlink(missing_ok=True)
    cmd = ["/usr/bin/time", "-f", "%M", "ogr2ogr", "-f", "GeoJSON", "-lco", "COORDINATE_PRECISION=7"]
    started = time.perf_counter()
    done = subprocess.run([*cmd, str(out), str(store), "farmland"], check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    size = out.stat().st_size
    out.unlink()
    return {"seconds": elapsed, "bytes": size, "peak_rss_mb": int(done.stderr.strip().splitlines()[-1]) / 1024}


def main(argv: list[str] | None = None) -> int:
    """Build synthetic stores, export each format in a subprocess, print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="feature counts, comma-separated")
    parser.add_argument(
        "--formats", default="geojson,gpkg,csv,geojson-whole", help="geojson-whole: unstreamed reference"
    )
    parser.add_argument("--rounds", type=int, default=1, help="GeoJSON vs ogr2ogr rounds, alternating")
    parser.add_argument("--child", nargs=2, metavar=("STORE", "FORMAT"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child, trace=args.trace)
        return 0
    header = f"{'features':>9} {'format':13} {'seconds':>8} {'MB':>8} {'MB/s':>7} {'feat/s':>9} "
    header += f"{'base RSS':>9} {'peak RSS':>9} {'+RSS':>7} {'py peak':>8}"
    with tempfile.TemporaryDirectory() as tmp:
        rows: list[str] = []
        versus: list[str] = []
        for n in (int(v) for v in args.sizes.split(",")):
            started = time.perf_counter()
            store = build_store(n, Path(tmp) / f"farmland-{n}.gpkg")
            print(f"built {n} parcels in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            for fmt in args.formats.split(","):
                plain, traced = _measure(store, fmt, False), _measure(store, fmt, True)
                mb = plain["bytes"] / 2**20
                rows.append(
                    f"{n:>9} {fmt:13} {plain['seconds']:8.2f} {mb:8.1f} {mb / plain['seconds']:7.1f} "
                    f"{plain['features'] / plain['seconds']:9.0f} {plain['baseline_mb']:8.0f}M "
                    f"{plain['peak_rss_mb']:8.0f}M {plain['peak_rss_mb'] - plain['baseline_mb']:6.0f}M "
                    f"{traced['traced_peak_mb']:7.1f}M"
                )
                print(rows[-1], file=sys.stderr)
            ours, gdal = [], []
            for _ in range(args.rounds):  # planmap's GeoJSON export and ogr2ogr's, alternating
                ours.append(_measure(store, "geojson", False))
                gdal.append(_ogr2ogr(store, Path(tmp) / "ogr.geojson"))
            best, ref = min(ours, key=lambda r: r["seconds"]), min(gdal, key=lambda r: r["seconds"])
            versus.append(
                f"{n:>9} {'geojson':8} {'gpkg':6} {best['seconds']:10.2f} {ref['seconds']:10.2f} "
                f"{best['seconds'] / ref['seconds']:6.2f} {best['bytes'] / 2**20:8.1f} {ref['bytes'] / 2**20:8.1f} "
                f"{best['peak_rss_mb']:8.0f}M {ref['peak_rss_mb']:8.0f}M"
            )
            print(versus[-1], file=sys.stderr)
    print(header)
    print("\n".join(rows))
    print("RSS: VmHWM in a fresh process per run, reset before the export; +RSS = peak minus RSS before it;")
    print("py peak = tracemalloc peak of Python allocations (separate run; GDAL/GEOS memory not included).")
    print()
    print(f"{'rows':>9} {'format':8} {'store':6} {'planmap s':>10} {'ogr2ogr s':>10} {'ratio':>6} {'MB':>8} ", end="")
    print(f"{'ogr MB':>8} {'peak RSS':>9} {'ogr RSS':>9}")
    print("\n".join(versus))
    print(f"best of {args.rounds} alternating round(s); ogr2ogr -f GeoJSON -lco COORDINATE_PRECISION=7, same table.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
