"""An MBTiles 1.3 writer (SQLite): the ``metadata`` and ``tiles`` tables, rows in TMS order (pure).

Written on ``sqlite3`` because the format is two tables; GDAL's MBTiles driver renders tiles itself and
cannot take tiles made elsewhere. Spec: https://github.com/mapbox/mbtiles-spec/blob/master/1.3/spec.md
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from geo.types import BBox

APPLICATION_ID = 0x4D504258
"""``PRAGMA application_id`` of an MBTiles file ("MPBX")."""

_SCHEMA = (
    "CREATE TABLE metadata (name text, value text)",
    "CREATE UNIQUE INDEX name ON metadata (name)",
    "CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)",
    "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)",
)


def mbtiles_metadata(
    name: str,
    bounds: BBox,
    minzoom: int,
    maxzoom: int,
    *,
    tile_format: str = "png",
    attribution: str = "",
    description: str = "",
    layer_type: str = "baselayer",
) -> dict[str, str]:
    """Return the metadata rows of an MBTiles file (every value as text, as the spec stores them).

    Examples
    --------
    >>> m = mbtiles_metadata("x", (112.0, 27.0, 113.0, 28.0), 8, 14)
    >>> m["bounds"], m["center"], m["format"]
    ('112.000000,27.000000,113.000000,28.000000', '112.500000,27.500000,11', 'png')
    """
    west, south, east, north = bounds
    center_zoom = (minzoom + maxzoom) // 2
    return {
        "name": name,
        "format": tile_format,
        "bounds": f"{west:.6f},{south:.6f},{east:.6f},{north:.6f}",
        "center": f"{(west + east) / 2:.6f},{(south + north) / 2:.6f},{center_zoom}",
        "minzoom": str(minzoom),
        "maxzoom": str(maxzoom),
        "attribution": attribution,
        "description": description,
        "type": layer_type,
        "version": "1.3",
    }


class MBTilesWriter:
    """Write tiles (XYZ addresses) into a new MBTiles file; use as a context manager.

    Parameters
    ----------
    path : the file to create; it must not exist.
    metadata : the ``metadata`` rows, e.g. from ``mbtiles_metadata``.
    """

    def __init__(self, path: str | Path, metadata: Mapping[str, str]) -> None:
        if Path(path).exists():
            raise FileExistsError(f"{path} exists already")
        self.count = 0
        self._conn = sqlite3.connect(path)
        self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        for statement in _SCHEMA:
            self._conn.execute(statement)
        self._conn.executemany("INSERT INTO metadata (name, value) VALUES (?, ?)", list(metadata.items()))

    def add(self, z: int, x: int, y: int, data: bytes) -> None:
        """Add tile ``z/x/y`` (XYZ, y down); MBTiles keeps rows in TMS order, so the row is flipped."""
        row = (1 << z) - 1 - y
        self._conn.execute(
            "INSERT INTO tiles (zoom_level, tile_column, tile_row, tile_data) VALUES (?, ?, ?, ?)",
            (z, x, row, sqlite3.Binary(data)),
        )
        self.count += 1

    def close(self) -> None:
        """Commit and close the file."""
        self._conn.commit()
        self._conn.close()

    def __enter__(self) -> MBTilesWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
