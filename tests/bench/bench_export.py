"""Export benchmark: planmap vs ogr2ogr on both stores (GeoPackage, PostGIS), every format, time and peak RSS.

Run: ``.venv/bin/python tests/bench/run.py export --sizes 100000,1000000 --rounds 3``. The same synthetic parcels
are written to a GeoPackage and to the schema ``bench_export_<n>`` of PLANMAP_TEST_DATABASE_URL (both kept and
reused when ``--data-dir`` is given or the schema holds ``n`` rows). Per round, each format is exported by planmap
(``write_export`` of the whole layer, in a fresh subprocess) and then by ``ogr2ogr`` from the same table; the best
of the rounds is printed. planmap's seconds run from ``prepare_export`` to the closed file (what a request costs;
``proc s`` adds the interpreter start and imports); ogr2ogr's are its whole process. Peak RSS is the kernel's
high-water mark: ``VmHWM`` in /proc/self/status for planmap, reset through /proc/self/clear_refs just before the
export (``ru_maxrss`` is no good: Linux carries it over from the parent across execve), ``/usr/bin/time %M`` for
ogr2ogr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
PG_URL = os.environ.get("PLANMAP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/planmap_test")
FORMATS = ("geojson", "gpkg", "fgb", "parquet", "csv")
OGR_ARGS = {
    "geojson": ["-f", "GeoJSON", "-lco", "COORDINATE_PRECISION=7"],
    "gpkg": ["-f", "GPKG"],
    "fgb": ["-f", "FlatGeobuf"],
    "csv": ["-f", "CSV", "-lco", "GEOMETRY=AS_WKT"],
}
"""ogr2ogr's equivalent of each planmap format (GPKG and FlatGeobuf write a spatial index by default, as planmap
does); GDAL here has no (Geo)Parquet driver, so Parquet has no reference."""


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
    """Write ``n`` synthetic parcels as the ``farmland`` layer of a GeoPackageStore at ``path`` (kept if present)."""
    from geo.storage.gpkg import GeoPackageStore

    if path.exists():
        return path
    with GeoPackageStore(path) as store:
        store.write_layer("farmland", synthetic_farmland(n))
    return path


def build_schema(n: int) -> str:
    """Write ``n`` synthetic parcels into the PostGIS schema ``bench_export_<n>`` unless it holds them already."""
    from geo.errors import GeoError
    from geo.storage.postgis import PostGISStore

    schema = f"bench_export_{n}"
    with PostGISStore(PG_URL, schema=schema) as store:
        try:
            held = store.count("farmland")
        except GeoError:
            held = -1
        if held != n:
            store.write_layer("farmland", synthetic_farmland(n))
    return schema


def _vm(key: str) -> float:
    """Return a /proc/self/status memory figure (VmRSS, VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def _open(store: str):
    """Open ``gpkg:PATH`` or ``pg:SCHEMA``."""
    from geo.storage.gpkg import GeoPackageStore
    from geo.storage.postgis import PostGISStore

    kind, _, where = store.partition(":")
    return GeoPackageStore(where) if kind == "gpkg" else PostGISStore(PG_URL, schema=where)


def _child(store_spec: str, fmt_name: str, out_dir: str) -> None:
    """Run one export in this (fresh) process and print its measurements as JSON."""
    from geo.writers import parse_format
    from layers.export import prepare_export, write_export
    from layers.query import Selection
    from layers.registry import load_catalogue

    layer = load_catalogue().get("farmland")
    fmt = parse_format(fmt_name)
    with _open(store_spec) as store:
        store.count("farmland")  # open the connection before the baseline
        baseline_mb = _vm("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        started = time.perf_counter()
        job = prepare_export(store, layer, Selection())
        out = Path(out_dir) / f"planmap.{fmt.ext}"
        write_export(job, fmt, out)
        elapsed = time.perf_counter() - started
        result = {
            "seconds": elapsed,
            "bytes": out.stat().st_size,
            "features": job.matched,
            "baseline_mb": baseline_mb,
            "peak_rss_mb": _vm("VmHWM"),
            "anon_mb": _vm("RssAnon"),
        }
        out.unlink()
    print(json.dumps(result))


def _measure(store: str, fmt: str, out_dir: Path) -> dict[str, float]:
    started = time.perf_counter()
    cmd = [sys.executable, __file__, "--child", store, fmt, str(out_dir)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"process_s": time.perf_counter() - started}


def _ogr_source(store: str) -> list[str]:
    kind, _, where = store.partition(":")
    return [where, "farmland"] if kind == "gpkg" else [f"PG:{PG_URL}", f"{where}.farmland"]


def _ogr2ogr(store: str, fmt: str, out_dir: Path) -> dict[str, float] | None:
    """Time ``ogr2ogr`` writing the whole ``farmland`` table as ``fmt``, with its peak RSS; None without a driver."""
    if fmt not in OGR_ARGS:
        return None
    out = out_dir / f"ogr.{fmt}"
    cmd = ["/usr/bin/time", "-f", "%M", "ogr2ogr", *OGR_ARGS[fmt], str(out), *_ogr_source(store)]
    started = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    size = sum(p.stat().st_size for p in out_dir.glob("ogr.*"))
    for part in out_dir.glob("ogr.*"):
        part.unlink()
    return {"seconds": elapsed, "bytes": size, "peak_rss_mb": int(done.stderr.strip().splitlines()[-1]) / 1024}


def _row(n: int, store: str, fmt: str, ours: list[dict[str, float]], gdal: list[dict[str, float]]) -> str:
    best = min(ours, key=lambda r: r["seconds"])
    kind = "gpkg" if store.startswith("gpkg:") else "postgis"
    line = f"{n:>9} {kind:7} {fmt:8} {best['seconds']:9.2f} {best['process_s']:7.2f} "
    line += f"{best['seconds'] / n * 1e6:6.2f} "
    if gdal:
        ref = min(gdal, key=lambda r: r["seconds"])
        line += f"{ref['seconds']:9.2f} {best['seconds'] / ref['seconds']:6.2f} "
    else:
        line += f"{'-':>9} {'-':>6} "
    line += f"{best['bytes'] / 2**20:8.1f} " + (f"{gdal[0]['bytes'] / 2**20:8.1f} " if gdal else f"{'-':>8} ")
    line += f"{max(r['peak_rss_mb'] for r in ours):8.0f}M {best['peak_rss_mb'] - best['baseline_mb']:6.0f}M "
    line += f"{max(r['anon_mb'] for r in ours):6.0f}M "
    return line + (f"{max(r['peak_rss_mb'] for r in gdal):8.0f}M" if gdal else f"{'-':>9}")


def _run_size(n: int, stores: list[str], formats: list[str], rounds: int, work: Path) -> list[str]:
    rows = []
    for store in stores:
        for fmt in formats:
            ours, gdal = [], []
            for _ in range(rounds):  # planmap and ogr2ogr alternate, so drift hits both alike
                ours.append(_measure(store, fmt, work))
                ref = _ogr2ogr(store, fmt, work)
                if ref is not None:
                    gdal.append(ref)
            rows.append(_row(n, store, fmt, ours, gdal))
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Build the synthetic stores, export each format with planmap and ogr2ogr in alternation, print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="feature counts, comma-separated")
    parser.add_argument("--formats", default=",".join(FORMATS), help="formats, comma-separated")
    parser.add_argument("--stores", default="gpkg,postgis", help="gpkg, postgis or both")
    parser.add_argument("--rounds", type=int, default=1, help="alternating planmap/ogr2ogr rounds (best is shown)")
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the GeoPackages here")
    parser.add_argument("--child", nargs=3, metavar=("STORE", "FORMAT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    kinds = args.stores.split(",")
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data_dir or Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        work = Path(tmp) / "out"
        work.mkdir()
        for n in (int(v) for v in args.sizes.split(",")):
            started = time.perf_counter()
            stores = []
            if "gpkg" in kinds:
                stores.append(f"gpkg:{build_store(n, data / f'farmland-{n}.gpkg')}")
            if "postgis" in kinds:
                stores.append(f"pg:{build_schema(n)}")
            print(f"{n} parcels ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            rows += _run_size(n, stores, args.formats.split(","), args.rounds, work)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{'rows':>9} {'store':7} {'format':8} {'planmap s':>9} {'proc s':>7} {'us/row':>6} {'ogr2ogr s':>9} ", end=""
    )
    print(f"{'ratio':>6} {'MB':>8} {'ogr MB':>8} {'peak RSS':>9} {'+RSS':>7} {'anon':>7} {'ogr RSS':>9}")
    print("\n".join(rows))
    print(f"best of {args.rounds} alternating round(s); ratio = planmap s / ogr2ogr s (< 1: planmap faster).")
    print("planmap s: prepare_export to closed file; proc s: its whole process (interpreter start and imports too).")
    print("peak RSS: highest VmHWM of the rounds; +RSS: peak minus RSS before the export; anon: RssAnon after it")
    print("(file-backed pages excluded: a GeoPackage read maps up to 128 MiB of the file); ogr RSS: /usr/bin/time %M.")
    print("ogr2ogr: GeoJSON -lco COORDINATE_PRECISION=7, GPKG, FlatGeobuf, CSV -lco GEOMETRY=AS_WKT; same table.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
