"""Low-zoom tile candidates of the GeoPackage store, chosen in numpy from the layer's envelopes held in memory.

A low-zoom tile covers much of a layer. Choosing its candidates in SQL (``tiles.gpkg_candidate_fids``) scans
the R-tree rows in the box and groups them by grid cell in a temporary B-tree: 31 ms for the 66,000 parcels
of a z8 tile. The same rule (per ``THIN_PX`` cell the feature with the largest envelope, then the winners
largest first, ties by id, up to the limit) applied to the envelopes held in memory, ranked once by area,
takes a few milliseconds: the box is a mask, the ranking is already done, and a hash finds each cell's first.

The envelopes are the R-tree's own values (its 32-bit floats, held as doubles, so every comparison is the
one SQLite makes), read once per data version of a layer of at most ``ENVELOPES_MAX_FEATURES`` features
(about 40 bytes a feature; larger layers are thinned in SQL). Only boxes at least ``MIN_SPAN_DEG`` wide use
them: for a smaller box the R-tree finds the few rows in it faster than a pass over every envelope. Within a
cell two envelopes of exactly the same area are told apart by id here and by R-tree order in SQL.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.errors import GeoError
from geo.storage.gpkg.dialect import rtree
from geo.types import BBox

ENVELOPES_MAX_FEATURES = 250_000
"""Layers up to this many features keep their envelopes in memory for low-zoom tiles. A layer's data version
changes with every field report, and reading the envelopes again costs ~1.5 s of CPU per million features
per worker: beyond this size a busy day's reports would keep the workers re-reading them."""
MIN_SPAN_DEG = 0.15
"""Boxes at least this wide (about a z11 tile) are thinned from memory; smaller ones in SQL. A pass over the
envelopes costs ~3 ns a feature of the layer, the SQL ~450 ns a feature in the box: memory wins from about 1 %
of the layer in the box, and a z12 box over the city's sparse parts holds less than that."""


@dataclass(frozen=True)
class _Ranked:
    """A layer's envelopes ranked largest first (ties by fid), as of one data version."""

    version: str
    fid: np.ndarray
    minx: np.ndarray
    miny: np.ndarray
    maxx: np.ndarray
    maxy: np.ndarray


_FETCH_ROWS = 65_536
"""R-tree rows turned into an array at a time (a million Python tuples at once would cost ~200 MB)."""


def read_envelopes(conn: sqlite3.Connection, layer: str, geom: str) -> np.ndarray:
    """Return a layer's R-tree rows as an ``(n, 5)`` array: id, minx, miny, maxx, maxy."""
    cursor = conn.execute(f"SELECT id, minx, miny, maxx, maxy FROM {rtree(layer, geom)}")
    parts = [np.empty((0, 5))]
    while rows := cursor.fetchmany(_FETCH_ROWS):
        parts.append(np.array(rows, dtype=np.float64))
    return np.concatenate(parts)


def _ranked(table: np.ndarray, version: str) -> _Ranked:
    fid = table[:, 0].astype(np.int64)
    area = (table[:, 3] - table[:, 1]) * (table[:, 4] - table[:, 2])
    order = np.lexsort((fid, -area))
    return _Ranked(version, fid[order], *(np.ascontiguousarray(table[order, i]) for i in range(1, 5)))


class LayerEnvelopes:
    """Per-layer ranked envelopes of one store, read again when a layer's data version changes.

    A layer's envelopes are read by a background thread the first time a wide box asks for them (100,000
    take about 0.1 s); until they are there, tiles are thinned in SQL, so no request waits for them.

    Parameters
    ----------
    version : returns a layer's current data version.
    size : returns an upper bound of a layer's feature count (asked once per version).
    read : returns a layer's envelopes (:func:`read_envelopes` on a connection of the calling thread).
    """

    def __init__(
        self, version: Callable[[str], str], size: Callable[[str], int], read: Callable[[str], np.ndarray]
    ) -> None:
        self._version, self._size, self._read = version, size, read
        self._layers: dict[str, _Ranked] = {}
        self._skipped: dict[str, str] = {}  # layer -> version too large (or unreadable) to hold
        self._building: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        # One long-lived thread reads envelopes (its GeoPackage connection lives as long as the store's).
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="envelopes")

    def ready(self, layer: str) -> _Ranked | None:
        """Return the layer's envelopes at its current version, or None (a build is then started)."""
        version = self._version(layer)
        entry = self._layers.get(layer)
        if entry is not None and entry.version == version:
            return entry
        with self._lock:
            if self._skipped.get(layer) == version or (layer, version) in self._building:
                return None
            self._building.add((layer, version))
        self._reader.submit(self.build, layer, version)
        return None

    def build(self, layer: str, version: str) -> None:
        """Read and rank the layer's envelopes as of ``version`` (in the calling thread)."""
        try:
            if self._size(layer) > ENVELOPES_MAX_FEATURES:
                self._skipped[layer] = version
                return
            entry = _ranked(self._read(layer), version)
            if self._version(layer) == version:  # not replaced while it was read
                self._layers[layer] = entry
        except (GeoError, sqlite3.Error):
            self._skipped[layer] = version  # the SQL path answers (and reports the problem) for this version
        finally:
            with self._lock:
                self._building.discard((layer, version))

    def candidate_fids(self, layer: str, bbox: BBox, cell: float, limit: int | None) -> list[int] | None:
        """Return the tile's feature ids as ``gpkg_candidate_fids`` chooses them without a filter; None when
        the box is too small, the layer too large or its envelopes not read yet (SQL then chooses them)."""
        if bbox[2] - bbox[0] < MIN_SPAN_DEG:
            return None
        entry = self.ready(layer)
        if entry is None:
            return None
        inside = np.flatnonzero(
            (entry.minx <= bbox[2]) & (entry.maxx >= bbox[0]) & (entry.miny <= bbox[3]) & (entry.maxy >= bbox[1])
        )
        # SQLite's CAST(... AS INTEGER) truncates; the values are never negative (lon + 180, lat + 90).
        gx = np.trunc(((entry.minx[inside] + entry.maxx[inside]) / 2 + 180.0) / cell).astype(np.int64)
        gy = np.trunc(((entry.miny[inside] + entry.maxy[inside]) / 2 + 90.0) / cell).astype(np.int64)
        rows = np.int64(np.trunc(180.0 / cell)) + 2
        first = ~pd.Series(gx * rows + gy).duplicated().to_numpy()  # each cell's first is its largest
        winners = entry.fid[inside[first]]
        return (winners if limit is None else winners[:limit]).tolist()

    def clear(self) -> None:
        """Drop every layer's envelopes."""
        with self._lock:
            self._layers.clear()
            self._skipped.clear()

    def close(self) -> None:
        """Drop every layer's envelopes and stop the reading thread (a read under way is let finish).

        A store may be used again after ``close`` (its connections reopen): a new reader starts on demand.
        """
        self._reader.shutdown(wait=True, cancel_futures=True)
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="envelopes")  # no thread until a read
        self.clear()
