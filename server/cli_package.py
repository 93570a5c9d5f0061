"""``planmap package``: field packages for a county (GeoPackage + offline basemap) and PMTiles of a layer."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from layers.registry import load_catalogue
from server.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``package county`` and ``package tiles`` commands."""
    pkg = sub.add_parser("package", help="offline packages: a county for QField/Mergin Maps, a layer as PMTiles")
    kinds = pkg.add_subparsers(dest="kind", required=True)
    county = kinds.add_parser("county", help="a county's projects as GeoPackage plus the basemap as MBTiles/PMTiles")
    county.add_argument("adcode", help="county adcode, e.g. 430321 (湘潭县)")
    county.add_argument("--out", required=True, help="output directory")
    county.add_argument("--minzoom", type=int, default=8, help="lowest basemap zoom (default 8)")
    county.add_argument("--maxzoom", type=int, default=14, help="highest basemap zoom (default 14)")
    tiles = kinds.add_parser("tiles", help="pre-render a layer's vector tiles over the city into PMTiles")
    tiles.add_argument("layer", help="layer id, e.g. farmland")
    tiles.add_argument("--out", required=True, help="output .pmtiles file")
    tiles.add_argument("--minzoom", type=int, default=0)
    tiles.add_argument("--maxzoom", type=int, default=14)


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.2f} MB"


def _county(settings: Settings, args: argparse.Namespace) -> int:
    from layers.packaging import package_county

    bar = tqdm(unit="tile", desc="basemap", dynamic_ncols=True, file=sys.stderr)

    def on_tile(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    with settings.store.open() as store:
        zooms = (args.minzoom, args.maxzoom)
        pkg = package_county(store, load_catalogue(), args.adcode, Path(args.out), zooms, on_tile)
    bar.close()
    print(f"{pkg.gpkg} ({_mb(pkg.gpkg)}, {sum(pkg.counts.values())} features, {pkg.seconds['gpkg']:.1f} s)")
    for layer_id, count in pkg.counts.items():
        print(f"  {layer_id:22} {count:6d}")
    print(f"{pkg.mbtiles} ({_mb(pkg.mbtiles)}, {pkg.basemap_tiles} tiles, {pkg.seconds['basemap']:.1f} s)")
    print(f"{pkg.pmtiles} ({_mb(pkg.pmtiles)})")
    return 0


def _tiles(settings: Settings, args: argparse.Namespace) -> int:
    from layers.packaging import package_layer_tiles

    out = Path(args.out)
    bar = tqdm(unit="tile", desc=f"z{args.minzoom}", dynamic_ncols=True, file=sys.stderr)

    def on_tile(z: int, empty: bool) -> None:
        bar.set_description(f"z{z}", refresh=False)
        bar.update()

    started = time.perf_counter()
    with settings.store.open() as store, tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        layer = load_catalogue().get(args.layer)
        summary = package_layer_tiles(store, layer, Path(tmp) / out.name, (args.minzoom, args.maxzoom), on_tile)
        os.replace(Path(tmp) / out.name, out)
    bar.close()
    print(
        f"{out}: {summary.tiles} tiles z{summary.minzoom}-z{summary.maxzoom} ({summary.contents} distinct), "
        f"{_mb(out)}, {time.perf_counter() - started:.1f} s"
    )
    return 0


def package(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``planmap package county|tiles``; input errors print one line and exit 2."""
    from geo.errors import GeoError
    from layers.errors import LayerError

    if not 0 <= args.minzoom <= args.maxzoom <= 22:
        bad = f"need 0 <= minzoom <= maxzoom <= 22, got {args.minzoom}..{args.maxzoom}"
        print(f"planmap package: {bad}", file=sys.stderr)
        return 2
    try:
        return _county(settings, args) if args.kind == "county" else _tiles(settings, args)
    except (GeoError, LayerError, ValueError) as exc:
        print(f"planmap package: {exc}", file=sys.stderr)
        return 2
