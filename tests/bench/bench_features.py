"""OGC API Features items benchmark: p50/p95 latency and requests/s at 10k and 100k farmland parcels.

Run: ``.venv/bin/python tests/bench/run.py features`` (or ``... bench_features.py --sizes 10000``). The app
runs in process (httpx through TestClient, concurrency 1) on synthetic parcels (``bench_export``) in a
temporary GeoPackage. Cases: a bbox page of 100 and of 1000 (about 1/16 of the city), the same in
EPSG:4547, a CQL2 filter page, and an ETag revalidation answered 304.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_export import XIANGTAN, build_store  # noqa: E402

CASES = {
    "bbox limit 100": {"limit": 100},
    "bbox limit 1000": {"limit": 1000},
    "bbox limit 1000 crs=4547": {"limit": 1000, "crs": "EPSG:4547"},
    "cql2 limit 100": {"limit": 100, "filter": "area_mu > 100 AND status = 'completed'"},
}


def _bboxes(count: int) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(1)
    w, h = (XIANGTAN[2] - XIANGTAN[0]) / 4, (XIANGTAN[3] - XIANGTAN[1]) / 4
    xs = rng.uniform(XIANGTAN[0], XIANGTAN[2] - w, count)
    ys = rng.uniform(XIANGTAN[1], XIANGTAN[3] - h, count)
    return [f"{x:.5f},{y:.5f},{x + w:.5f},{y + h:.5f}" for x, y in zip(xs, ys, strict=True)]


def _time(client, params_list, headers=None) -> list[float]:
    times = []
    for params in params_list:
        start = time.perf_counter()
        response = client.get("/collections/farmland/items", params=params, headers=headers or {})
        times.append(time.perf_counter() - start)
        assert response.status_code in (200, 304), response.text
    return times


def _row(size: int, case: str, times: list[float]) -> str:
    p50, p95 = statistics.median(times) * 1000, sorted(times)[int(0.95 * (len(times) - 1))] * 1000
    return f"| {size:>7} | {case:<26} | {p50:8.1f} | {p95:8.1f} | {len(times) / sum(times):8.1f} |"


def run_size(size: int, requests: int) -> list[str]:
    """Build ``size`` parcels and time every case; return table rows."""
    from fastapi.testclient import TestClient

    from server.main import create_app
    from server.settings import ApiSettings, Settings, StoreSettings

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = build_store(size, Path(tmp) / "bench.gpkg")
        settings = Settings(store=StoreSettings(gpkg_path=path, data_dir=Path(tmp)), api=ApiSettings())
        with TestClient(create_app(settings)) as client:
            boxes = _bboxes(requests)
            client.get("/collections/farmland/items", params={"limit": 10})  # warm up
            for case, extra in CASES.items():
                rows.append(_row(size, case, _time(client, [{"bbox": b, **extra} for b in boxes])))
            first = client.get("/collections/farmland/items", params={"bbox": boxes[0], "limit": 1000})
            etag = {"if-none-match": first.headers["etag"]}
            rows.append(_row(size, "304 revalidation", _time(client, [{"bbox": boxes[0], "limit": 1000}] * 50, etag)))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the sizes, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args(argv)
    print("| parcels | case                       | p50 (ms) | p95 (ms) |    req/s |")
    print("|--------:|----------------------------|---------:|---------:|---------:|")
    for size in args.sizes:
        for row in run_size(size, args.requests):
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
