"""planmap's raster PNG tiles against titiler on the same COG, tile list, colour ramp and value range, over HTTP.

Run: ``.venv/bin/python tests/bench/run.py raster`` (under ``flock`` on a shared machine). A deterministic
DEM-like float32 COG (``--size`` squared pixels over Xiangtan's bbox, deflate, 512 px blocks, overviews,
written with rio-cogeo) is kept in ``--data-dir`` and registered with ``planmap raster add`` in a fresh
GeoPackage store. Both servers are uvicorn with one worker and ``GDAL_CACHEMAX=256`` (MiB; planmap's own
``PLANMAP_GDAL_CACHEMAX`` too). titiler is a minimal ``titiler.core`` ``TilerFactory`` app run from its own
virtual environment (``PLANMAP_BENCH_TITILER_PYTHON``, else ``../venv-bench/bin/python`` beside the checkout;
make it with ``python3 -m venv venv-bench && venv-bench/bin/pip install titiler.core uvicorn``); it is asked
for bilinear resampling and reprojection, as planmap draws.

The tile list is z8-z14 tiles over the COG. The **first** row is one pass at 1 client over freshly started
servers (nothing cached anywhere but the OS's file cache). **cold** rows: planmap with its tile cache off (every tile
rendered, as on a first visit), **warm** rows: planmap with its tile cache on and filled by one pass first;
titiler has no tile cache, so its rows are the same kind in both. GDAL's block cache is warm in both
servers after the first round either way. Rows are measured A B A B A B (three rounds). Before measuring,
one tile on the COG's edge is fetched from each system and its drawn (non-transparent) pixels counted, to
show both render the same area. Prints the table and writes ``results/raster_vs_titiler.md``.
``--before PATH`` also serves another planmap checkout (cold rows only). Ports come from
``PLANMAP_BENCH_PORTS`` (``lo-hi``) when set.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BBOX = (112.42, 27.62, 113.08, 28.08)
COLORMAP, RESCALE = "viridis", "0,600"
ZOOMS = range(8, 15)
ROWS = ("cold", "warm")
TITILER_APP = """
from fastapi import FastAPI
from titiler.core.errors import DEFAULT_STATUS_CODES, add_exception_handlers
from titiler.core.factory import TilerFactory

app = FastAPI()
app.include_router(TilerFactory().router, prefix="/cog")
add_exception_handlers(app, DEFAULT_STATUS_CODES)
"""


def make_cog(path: Path, size: int) -> Path:
    """Write a DEM-like float32 COG (smooth relief, ridges and fixed noise; seed 7) unless ``path`` exists."""
    if path.exists():
        return path
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    import rasterio
    from rasterio.transform import from_bounds
    from rasterio.windows import Window

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    plain = path.with_suffix(".plain.tif")
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": from_bounds(*BBOX, size, size),
        "nodata": -9999.0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
    }
    with rasterio.open(plain, "w", **profile) as dst:
        x = np.arange(size, dtype=np.float32) / size
        for top in range(0, size, 1024):
            y = (np.arange(top, min(top + 1024, size), dtype=np.float32) / size)[:, None]
            relief = 50 + 200 * (np.sin(x * 7.0) * np.cos(y * 5.0) + 1) + 60 * np.sin(x * 41 + y * 23)
            noise = rng.normal(0, 2, relief.shape).astype(np.float32)
            dst.write((relief + noise).astype(np.float32)[None], window=Window(0, top, size, y.shape[0]))
    cog_translate(str(plain), str(path), cog_profiles.get("deflate"), quiet=True)
    plain.unlink()
    return path


def tile_list(per_zoom: int = 30, seed: int = 5) -> list[tuple[int, int, int]]:
    """Return up to ``per_zoom`` tiles per zoom in ``ZOOMS`` wholly or partly over the COG (all of them when fewer)."""
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    rng = np.random.default_rng(seed)
    out = []
    for z in ZOOMS:
        tiles = list(tms.tiles(*BBOX, zooms=[z]))
        picked = rng.choice(len(tiles), min(per_zoom, len(tiles)), replace=False)
        out += [(z, tiles[i].x, tiles[i].y) for i in sorted(picked)]
    return out


def titiler_python() -> str:
    """Return the Python that runs titiler: ``PLANMAP_BENCH_TITILER_PYTHON``, ``../venv-bench`` or this one."""
    configured = os.environ.get("PLANMAP_BENCH_TITILER_PYTHON")
    if configured:
        return configured
    beside = ROOT.parent / "venv-bench" / "bin" / "python"
    return str(beside) if beside.exists() else sys.executable


def planmap_store(data_dir: Path, cog: Path) -> dict[str, str]:
    """Register the COG as raster ``dem`` in a fresh GeoPackage store; return the server environment."""
    import shutil

    store_dir = data_dir / "planmap"
    shutil.rmtree(store_dir, ignore_errors=True)
    store_dir.mkdir(parents=True)
    env = {
        "PLANMAP_DATA_DIR": str(store_dir),
        "PLANMAP_GPKG_PATH": str(store_dir / "planmap.gpkg"),
        "PLANMAP_GDAL_CACHEMAX": "256",
        "GDAL_CACHEMAX": "256",
    }
    cmd = [sys.executable, "-m", "server.cli", "raster", "add", "dem", str(cog), "--colormap", COLORMAP]
    cmd += ["--rescale", RESCALE, "--unit", "m"]
    subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=ROOT, check=True)
    return env


def start(data_dir: Path, cog: Path, before: Path | None) -> dict[str, tuple[object, str]]:
    """Start titiler, planmap with its tile cache off (cold) and on (warm); return each server and its kind."""
    sys.path.insert(0, str(HERE))
    from bench_tipg import Server, uvicorn_args

    app_dir = data_dir / "titiler_app"
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "bench_titiler_app.py").write_text(TITILER_APP, encoding="utf-8")
    titiler_env = {"PYTHONPATH": str(app_dir), "GDAL_CACHEMAX": "256"}
    query = f"?url={cog}"
    titiler = Server(
        uvicorn_args("bench_titiler_app:app", 1), titiler_env, f"/cog/info{query}", python=titiler_python()
    )
    env = planmap_store(data_dir, cog)
    app = uvicorn_args("server.main:create_app()", 1)
    cold = Server(app, {**env, "PLANMAP_TILE_CACHE_ITEMS": "0"}, "/rasters/dem")
    warm = Server(app, env, "/rasters/dem")
    servers = {"titiler": (titiler, "titiler"), "planmap": (cold, "planmap"), "planmap warm": (warm, "planmap")}
    if before is not None:
        servers["before"] = (
            Server(app, {**env, "PLANMAP_TILE_CACHE_ITEMS": "0"}, "/rasters/dem", tree=before),
            "planmap",
        )
    return servers


def tile_urls(kind: str, cog: Path, tiles: list[tuple[int, int, int]]) -> list[str]:
    """Return the PNG tile URLs of one system with the same ramp and range (bilinear for titiler too)."""
    if kind == "titiler":
        query = f"url={cog}&colormap_name={COLORMAP}&rescale={RESCALE}&resampling=bilinear&reproject=bilinear"
        return [f"/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?{query}" for z, x, y in tiles]
    return [f"/rasters/dem/tiles/WebMercatorQuad/{z}/{x}/{y}.png" for z, x, y in tiles]


def drawn_pixels(base: str, url: str) -> int:
    """Return the number of non-transparent pixels of one PNG tile."""
    import httpx
    from PIL import Image

    response = httpx.get(base + url, timeout=120)
    response.raise_for_status()
    with Image.open(io.BytesIO(response.content)) as image:
        return int((np.asarray(image.convert("RGBA"))[..., 3] > 0).sum())


def peak_rss_mib(server: object) -> float:
    """Return the peak resident memory (``VmHWM``) of a server's processes, MiB."""
    total = 0
    for pid in server.pids():  # type: ignore[attr-defined]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def main(argv: list[str] | None = None) -> int:
    """Make the COG, start the servers, check they draw the same area, measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000, help="COG width and height in pixels")
    parser.add_argument("--per-zoom", type=int, default=30, help="tiles per zoom (all of them when fewer)")
    parser.add_argument("--rounds", type=int, default=3, help="A B rounds per row")
    parser.add_argument("--before", type=Path, help="also serve the planmap checkout at PATH (cold), e.g. main")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "planmap-bench-raster", help="kept COG"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    from bench_tipg import machine, measure, run

    cog = make_cog(args.data_dir / f"dem-{args.size}.tif", args.size)
    tiles = tile_list(args.per_zoom)
    servers = start(args.data_dir, cog, args.before)
    cold = [name for name in servers if not name.endswith("warm")]
    try:
        first = {name: run(servers[name][0].base, tile_urls(servers[name][1], cog, tiles), 1) for name in cold}  # type: ignore[attr-defined]
        urls = {(row, name): tile_urls(kind, cog, tiles) for name, (_, kind) in servers.items() for row in ROWS}
        edge = tile_list(per_zoom=10_000)  # the tile at the COG's north-west corner at z12
        corner = next(t for t in edge if t[0] == 12)
        pixels = {
            name: drawn_pixels(server.base, tile_urls(kind, cog, [corner])[0])  # type: ignore[attr-defined]
            for name, (server, kind) in servers.items()
        }
        run(servers["planmap warm"][0].base, urls[("warm", "planmap warm")], 2)  # type: ignore[attr-defined]
        systems = {"cold": "|".join(cold), "warm": "planmap warm|titiler"}
        rows = [(row, systems[row], c) for row in ("cold", "warm") for c in (1, 16)]
        results = measure(servers, rows, urls, rounds=args.rounds)
        rss = {name: peak_rss_mib(server) for name, (server, _) in servers.items()}
    finally:
        for server, _ in servers.values():
            server.stop()  # type: ignore[attr-defined]
    mib = cog.stat().st_size / 2**20
    lines = [
        f"`{' '.join(sys.argv)}` on {machine()}",
        "",
        f"COG {args.size}x{args.size} float32 deflate, {mib:.0f} MiB; {len(tiles)} tiles z8-z14",
        f"drawn pixels of z12 corner tile {corner}: " + ", ".join(f"{k} {v}" for k, v in pixels.items()),
        "",
        "| pass  | system       |  c |   req/s | x titiler | p50 ms | p95 ms |",
        "|-------|--------------|---:|--------:|----------:|-------:|-------:|",
    ]
    results = {**{("first", name, 1): first[name] for name in cold}, **results}
    for (row, system, c), (lat, wall) in results.items():
        rate = len(lat) / wall
        base_lat, base_wall = results[(row, "titiler", c)]
        ratio = rate / (len(base_lat) / base_wall)
        p50, p95 = np.percentile(lat * 1000, [50, 95])
        lines.append(f"| {row:<5} | {system:<12} | {c:>2} | {rate:7.1f} | {ratio:8.2f}x | {p50:6.1f} | {p95:6.1f} |")
    lines += ["", "peak RSS (VmHWM) MiB: " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items())]
    print("\n".join(lines))
    out = HERE / "results" / "raster_vs_titiler.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("# planmap raster tiles vs titiler on the same COG\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
