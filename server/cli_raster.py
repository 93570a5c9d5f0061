"""``planmap raster``: register a user's raster (any GeoTIFF with a CRS, made a COG) and list the rasters served."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from geo.errors import GeoError
from layers.errors import LayerError
from layers.raster_add import add_raster
from layers.rasters import list_rasters
from server.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``raster`` commands."""
    cmd = sub.add_parser("raster", help="rasters: register a GeoTIFF as a served layer, list them")
    actions = cmd.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="list the rasters served (built-in and registered)")
    add = actions.add_parser("add", help="register (or replace) a raster; a non-COG file is converted to a COG")
    add.add_argument("name", help="raster id in URLs, e.g. dem (lower-case letters, digits, '-')")
    add.add_argument("file", help="GeoTIFF or other GDAL raster with a CRS")
    add.add_argument("--colormap", default="viridis", help="colour ramp, e.g. viridis, ylorrd, blues, rdylgn_r")
    add.add_argument("--rescale", help="MIN,MAX value range stretched over the ramp (default: the data range)")
    add.add_argument("--title", help="display title (default: the name)")
    add.add_argument("--unit", default="", help="unit of the values, e.g. m or mg/kg")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run one ``raster`` command; problems are one line on stderr and exit code 2."""
    try:
        with settings.store.open() as store:
            if args.action == "list":
                for spec in list_rasters(store):
                    print(f"{spec.id:24} {spec.colormap:10} {spec.rescale[0]:g},{spec.rescale[1]:g} {spec.title_zh}")
                return 0
            spec = add_raster(
                store,
                Path(settings.store.data_dir),
                args.name,
                Path(args.file),
                title=args.title,
                unit=args.unit,
                colormap=args.colormap,
                rescale=args.rescale,
            )
    except (GeoError, LayerError, OSError) as exc:
        print(f"planmap raster: {exc}", file=sys.stderr)
        return 2
    print(
        f"registered raster {spec.id} ({spec.colormap}, {spec.rescale[0]:g}..{spec.rescale[1]:g}): /rasters/{spec.id}"
    )
    return 0
