"""Writing PMTiles v3 archives with the ``pmtiles`` package: header, JSON metadata, tiles in tile-id order."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pmtiles.tile import Compression, TileType, tileid_to_zxy, zxy_to_tileid
from pmtiles.writer import write

from geo.types import BBox

TileKind = Literal["mvt", "png"]
_TYPES = {"mvt": TileType.MVT, "png": TileType.PNG}


@dataclass(frozen=True)
class PMTilesSummary:
    """What was written: addressed tiles, distinct tile contents, zoom range and file size."""

    tiles: int
    contents: int
    minzoom: int
    maxzoom: int
    size_bytes: int


def _e7(value: float) -> int:
    return int(round(value * 10_000_000))


def write_pmtiles(
    path: str | Path,
    tiles: Iterable[tuple[int, int, int, bytes]],
    *,
    kind: TileKind,
    bounds: BBox,
    metadata: Mapping[str, Any],
    compress: bool = False,
    center_zoom: int | None = None,
) -> PMTilesSummary:
    """Write ``(z, x, y, data)`` tiles (XYZ) to a PMTiles v3 file; empty tile data is left out.

    Parameters
    ----------
    path : the archive to write (replaced when it exists).
    tiles : the tiles, in any order; they are written sorted by tile id so the archive is clustered.
    kind : ``"mvt"`` or ``"png"`` (the header's tile_type).
    bounds : CRS84 bounds for the header.
    metadata : the JSON metadata (for vector tiles it should hold ``vector_layers``).
    compress : gzip each tile and declare ``tile_compression = gzip`` (the spec's choice for MVT).
    center_zoom : the header's center zoom (default: the lowest zoom written).

    Returns
    -------
    PMTilesSummary

    Raises
    ------
    ValueError
        When no tile has data (a PMTiles archive needs at least one tile).
    """
    ordered = sorted(((zxy_to_tileid(z, x, y), data) for z, x, y, data in tiles if data), key=lambda t: t[0])
    if not ordered:
        raise ValueError("no tiles to write")
    zooms = sorted({tileid_to_zxy(tile_id)[0] for tile_id, _ in ordered})
    west, south, east, north = bounds
    header = {
        "tile_type": _TYPES[kind],
        "tile_compression": Compression.GZIP if compress else Compression.NONE,
        "min_lon_e7": _e7(west),
        "min_lat_e7": _e7(south),
        "max_lon_e7": _e7(east),
        "max_lat_e7": _e7(north),
        "center_zoom": zooms[0] if center_zoom is None else center_zoom,
        "center_lon_e7": _e7((west + east) / 2),
        "center_lat_e7": _e7((south + north) / 2),
    }
    with write(str(path)) as writer:
        for tile_id, data in ordered:
            writer.write_tile(tile_id, gzip.compress(data, compresslevel=6, mtime=0) if compress else data)
        writer.finalize(header, dict(metadata))
        contents = len(writer.hash_to_offset)
    return PMTilesSummary(len(ordered), contents, zooms[0], zooms[-1], Path(path).stat().st_size)
