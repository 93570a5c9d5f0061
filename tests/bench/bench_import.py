"""Import benchmark: ``planmap import`` of a large farmland file from another system, wall time and peak RSS.

Run: ``.venv/bin/python tests/bench/run.py import [--sizes 100000 1000000] [--stores gpkg postgis]``; to compare
checkouts in one run, alternating, give each with ``--tree PATH``.

The source file (cached in ``--cache``, default ``~/.cache/planmap-bench``) is built deterministically in a
subprocess: rectangles of 5-200 mu scattered over a box larger than Xiangtan (so a share lies outside the
city and is skipped), with the other system's column names and its own status words, mapped by a mapping
file with a value map. Each import is the real command line, ``planmap import farmland FILE --mapping M
--on-invalid skip``, run as a child process into a fresh GeoPackage store or PostGIS schema. Peak RSS is the
child's ``ru_maxrss`` from ``os.wait4`` (the bench process forks it while small, so the inherited
high-water mark does not matter). Results are printed and written to ``tests/bench/results/import.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results" / "import.md"
PG_URL = os.environ.get("PLANMAP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/planmap_test")
BOX = (112.25, 27.45, 113.25, 28.25)
"""Wider than Xiangtan (about 112.42-113.08 E, 27.62-28.08 N): rows outside are skipped."""
LIMITS = {
    "PLANMAP_IMPORT_MAX_FEATURES": "2000000",
    "PLANMAP_IMPORT_MAX_VERTICES": "20000000",
    "PLANMAP_IMPORT_MAX_BYTES": str(4 * 1024**3),
}
"""The import limits raised (by environment, as an operator would) so that a million parcels are accepted."""
STATES = ("not_started", "under_construction", "accepted", "handed_over")
MAPPING = {
    "PARCEL_ID": "id",
    "PRJ_NAME": "name",
    "BUILD_KIND": "build_type",
    "PRJ_YEAR": "project_year",
    "PCT_DONE": "progress_pct",
    "status": {
        "column": "STATE",
        "values": {
            "not_started": "planned",
            "under_construction": "in_progress",
            "accepted": "completed",
            "handed_over": "completed",
        },
    },
}

_GENERATE = """
import sys
import numpy as np, geopandas as gpd, shapely
n, path = int(sys.argv[1]), sys.argv[2]
box = {box!r}
states = {states!r}
rng = np.random.default_rng(12)
lon = rng.uniform(box[0], box[2], n)
lat = rng.uniform(box[1], box[3], n)
side = np.sqrt(rng.uniform(5, 200, n) * 10000 / 15)
aspect = rng.uniform(0.5, 2.0, n)
dx = side * np.sqrt(aspect) / (111_320 * np.cos(np.radians(lat))) / 2
dy = side / np.sqrt(aspect) / 110_574 / 2
frame = gpd.GeoDataFrame(
    {{
        "PARCEL_ID": np.char.add("FL-", np.arange(n).astype(str)),
        "PRJ_NAME": np.char.add("高标准农田项目区", np.arange(n).astype(str)),
        "STATE": np.asarray(states)[rng.integers(0, len(states), n)],
        "BUILD_KIND": np.where(rng.random(n) < 0.6, "新建", "改造提升"),
        "PRJ_YEAR": rng.integers(2023, 2026, n),
        "PCT_DONE": np.round(rng.uniform(0, 100, n), 1),
    }},
    geometry=shapely.box(lon - dx, lat - dy, lon + dx, lat + dy),
    crs="EPSG:4326",
)
frame.to_file(path, layer="parcels", driver="GPKG" if path.endswith(".gpkg") else "FlatGeobuf")
"""


def source_file(n: int, cache: Path, fmt: str) -> Path:
    """Return the cached ``n``-parcel source file, generating it (in a subprocess) when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"parcels-{n}.{fmt}"
    if not path.exists():
        tmp = path.with_name(f"tmp-{path.name}")
        code = _GENERATE.format(box=BOX, states=STATES)
        subprocess.run([sys.executable, "-c", code, str(n), str(tmp)], check=True, cwd=ROOT)
        tmp.rename(path)
    return path


def _run(args: list[str], env: dict[str, str], tree: Path) -> tuple[float, float, int, str]:
    """Run a child in ``tree``; return (wall s, peak RSS MiB, exit code, stdout)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        child = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tree)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return wall, usage.ru_maxrss / 1024, child.returncode, out.read().decode("utf-8", "replace")


def _count(pattern: str, text: str) -> int | None:
    match = re.search(pattern, text)
    return int(match.group(1)) if match else None


def _drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_import(path: Path, mapping: Path, store: str, work: Path, tree: Path = ROOT) -> dict[str, object]:
    """Import ``path`` with the code in ``tree`` into a fresh store of kind ``store``; return the figures."""
    env = dict(os.environ, PYTHONPATH=str(tree), PLANMAP_DATA_DIR=str(work), **LIMITS)
    schema = f"planmap_bench_import_{uuid.uuid4().hex[:8]}"
    if store == "postgis":
        env |= {"PLANMAP_DATABASE_URL": PG_URL, "PLANMAP_DATABASE_SCHEMA": schema}
    else:
        env["PLANMAP_GPKG_PATH"] = str(work / f"{uuid.uuid4().hex[:8]}.gpkg")
    cli = [sys.executable, "-c", "import sys; from server.cli import main; sys.exit(main())", "import"]
    cli += ["farmland", str(path), "--mapping", str(mapping), "--on-invalid", "skip", "--source", "bench"]
    try:
        wall, rss, code, text = _run(cli, env, tree)
    finally:
        if store == "postgis":
            _drop_schema(schema)
        else:
            Path(env["PLANMAP_GPKG_PATH"]).unlink(missing_ok=True)
    if code != 0:
        print(text[-3000:], file=sys.stderr)
    return {
        "store": store,
        "wall_s": wall,
        "rss_mib": rss,
        "exit": code,
        "read": _count(r"(\d+) rows", text),
        "imported": _count(r"added (\d+)", text),
        "skipped": _count(r"skipped (\d+) row", text) or 0,
    }


def table(rows: list[dict[str, object]]) -> str:
    """Return the results as a Markdown table."""
    head = "| code | rows | store | wall s | peak RSS MiB | read | imported | skipped | exit |\n"
    head += "|---|---:|---|---:|---:|---:|---:|---:|---:|\n"
    lines = [
        f"| {r['label']} | {r['n']} | {r['store']} | {r['wall_s']:.1f} | {r['rss_mib']:.0f} | {r['read']} "
        f"| {r['imported']} | {r['skipped']} | {r['exit']} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Generate the source files, import each into each store, print and save the table."""
    parser = argparse.ArgumentParser(prog="run.py import")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--stores", nargs="+", choices=("gpkg", "postgis"), default=["gpkg", "postgis"])
    parser.add_argument("--format", choices=("gpkg", "fgb"), default="gpkg")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "planmap-bench")
    parser.add_argument(
        "--tree",
        type=Path,
        action="append",
        help="a checkout whose code to measure (repeat to compare; runs alternate); default this one",
    )
    parser.add_argument("--no-save", action="store_true", help="print only; do not write results/import.md")
    args = parser.parse_args(argv)
    mapping = args.cache / "import-mapping.json"
    args.cache.mkdir(parents=True, exist_ok=True)
    mapping.write_text(json.dumps(MAPPING, ensure_ascii=False, indent=2), encoding="utf-8")
    rows = []
    with tempfile.TemporaryDirectory(prefix="planmap-bench-import-") as tmp:
        for n in args.sizes:
            path = source_file(n, args.cache, args.format)
            for store in args.stores:
                for tree in args.tree or [ROOT]:
                    row = run_import(path, mapping, store, Path(tmp), tree.resolve()) | {"n": n}
                    rows.append(row | {"label": tree.resolve().name if args.tree else "this tree"})
                    print(table([rows[-1]]).splitlines()[-1], flush=True)
    text = table(rows)
    print(text)
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        note = "`planmap import farmland parcels.gpkg --mapping m.json --on-invalid skip`; peak RSS = child ru_maxrss"
        RESULTS.write_text(f"# Import benchmark\n\n{note}\n\n{text}", encoding="utf-8")
    return max(int(r["exit"] != 0) for r in rows)  # type: ignore[call-overload]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
