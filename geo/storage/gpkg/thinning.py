"""Low-zoom tile candidates of the GeoPackage store, chosen in numpy from the layer's envelopes held in memory.

A low-zoom tile covers much of a layer. Choosing its candidates in SQL (``tiles.gpkg_candidate_fids``) scans
the R-tree rows in the box and groups them by grid cell in a temporary B-tree: 31 ms for the 66,000 parcels
of a z8 tile at 100k parcels, 1.2 s for the 666,000 of one at 1M. The same rule (per ``THIN_PX`` cell the
feature with the largest envelope, then the winners largest first, ties by id, up to the limit) applied to the
envelopes held in memory, ranked once by area, takes a few milliseconds:

- a grid cell wholly inside the box has the same winner in every such box: its layer-wide winner (every
  feature centred in it meets the box). Those winners are found once per cell size and kept;
- only the features meeting the box and centred in the cells along its edges (or beyond) are grouped per tile,
  each cell's first in rank order (a hash) being its winner.

The envelopes are the R-tree's own values (its 32-bit floats, held as doubles, so every comparison is the
one SQLite makes), read once per geometry version of a layer of at most ``ENVELOPES_MAX_FEATURES`` features
(56 bytes a feature; larger layers are thinned in SQL). The geometry version (``planmap_versions``) changes
with layer writes and feature edits, not with progress reports, which only touch attributes. A box is thinned
in memory when the pass over the layer is cheaper than the SQL over the features it holds, as estimated from a
coarse grid of feature counts. Within a cell two envelopes of exactly the same area are told apart by id here
and by R-tree order in SQL.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo.errors import GeoError
from geo.storage.gpkg.dialect import rtree
from geo.storage.sql import quote_ident
from geo.types import BBox

ENVELOPES_MAX_FEATURES = 2_000_000
"""Layers up to this many features keep their envelopes in memory for low-zoom tiles: 112 MB per worker at
most. Reading and ranking them costs ~0.4 s of CPU per million features per worker (in the background), once
per geometry version: after a planner's edit, not after each field report."""
MIN_SPAN_DEG = 0.05
"""Boxes narrower than this (a z13 tile and smaller) always go to SQL: the R-tree finds their rows sooner."""
PASS_NS = 8.0
"""Cost of the in-memory pass per feature of the layer (ns): the box mask and the edge-cell test."""
SQL_NS = 450.0
"""Cost of the SQL thinning per feature in the box (ns): R-tree rows read and grouped in a B-tree."""
_DENSITY_BINS = 128
"""The count grid (per axis) over the layer's envelope centres that estimates how many features a box holds."""
_KEPT_CELL_SIZES = 64
"""Cell sizes (zooms of the tile matrix sets in use) whose winners a layer keeps at once."""
_MARGIN = 1e-9
"""Fraction of a cell kept clear of its edges when a cell is taken as wholly inside a box (far above the
rounding of the centre and cell arithmetic, ~1e-14): a cell at the edge is then grouped exactly per tile."""


@dataclass(frozen=True)
class _Winners:
    """Each occupied grid cell's layer-wide winner at one cell size: rank positions and cell indexes."""

    pos: np.ndarray
    gx: np.ndarray
    gy: np.ndarray


@dataclass(frozen=True)
class _Ranked:
    """A layer's envelopes ranked largest first (ties by fid), as of one geometry version.

    ``cx``/``cy`` are the envelope centres shifted as the SQL shifts them (``(minx + maxx) / 2 + 180.0``), so
    ``cx / cell`` is the very division SQLite makes; ``density`` is a summed-area table of centre counts over
    ``grid`` (x0, y0, bin width, bin height).
    """

    version: str
    fid: np.ndarray
    minx: np.ndarray
    miny: np.ndarray
    maxx: np.ndarray
    maxy: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    density: np.ndarray
    grid: tuple[float, float, float, float]
    winners: dict[float, _Winners] = field(default_factory=dict)

    def estimate(self, bbox: BBox) -> int:
        """Return about how many features a box holds (the count of the grid bins it meets)."""
        x0, y0, w, h = self.grid
        n = _DENSITY_BINS

        def bins(lo: float, hi: float, origin: float, size: float) -> tuple[int, int]:
            return (min(max(int((lo - origin) // size), 0), n), min(max(int((hi - origin) // size) + 1, 0), n))

        i0, i1 = bins(bbox[0], bbox[2], x0, w)
        j0, j1 = bins(bbox[1], bbox[3], y0, h)
        d = self.density
        return int(d[i1, j1] - d[i0, j1] - d[i1, j0] + d[i0, j0])

    def cell_winners(self, cell: float) -> _Winners:
        """Return the layer-wide winner of every occupied cell of size ``cell`` (computed once, then kept)."""
        found = self.winners.get(cell)
        if found is None:
            if len(self.winners) >= _KEPT_CELL_SIZES:
                self.winners.clear()
            gx, gy = _cells(self.cx, self.cy, cell)
            pos = np.flatnonzero(_firsts(gx, gy, cell))
            found = self.winners[cell] = _Winners(pos, gx[pos], gy[pos])
        return found


_ENVELOPE_ROW = np.dtype([("id", "f8"), ("minx", "f8"), ("miny", "f8"), ("maxx", "f8"), ("maxy", "f8")])
_LEAF_CELL = np.dtype([("id", ">i8"), ("minx", ">f4"), ("maxx", ">f4"), ("miny", ">f4"), ("maxy", ">f4")])
"""A leaf cell of a 2-D SQLite R-tree node: rowid, then each dimension's min and max, big-endian."""


def read_envelopes(conn: sqlite3.Connection, layer: str, geom: str) -> np.ndarray:
    """Return a layer's R-tree rows as an ``(n, 5)`` array: id, minx, miny, maxx, maxy (in no set order).

    Read from the R-tree's node pages in one read transaction (a million rows in ~0.1 s instead of ~1.1 s
    through the virtual table), unless they do not add up to the R-tree's row count: then through the table.
    """
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")  # one snapshot for the node, parent and row-count reads
    try:
        table = _leaf_cells(conn, layer, geom)
        if table is not None:
            return table
        cursor = conn.execute(f"SELECT id, minx, miny, maxx, maxy FROM {rtree(layer, geom)}")
        return np.fromiter(cursor, dtype=_ENVELOPE_ROW).view(np.float64).reshape(-1, 5)
    finally:
        if began:
            conn.execute("COMMIT")


def _leaf_cells(conn: sqlite3.Connection, layer: str, geom: str) -> np.ndarray | None:
    """Return the envelopes held in the R-tree's leaf nodes, or None when they miss some of its rows.

    Written by hand: SQLite has no bulk read of an R-tree, and its virtual table hands rows over one Python
    tuple at a time. The node layout is SQLite's on-disk format (``ext/rtree/rtree.c``, stable since 2008):
    a 2-byte depth (root only), a 2-byte cell count, then the cells; a node is a leaf when no node names it
    as parent (a lone root is a leaf too). The coordinates are the very 32-bit floats the table returns.
    """
    shadow = f"rtree_{layer}_{geom}"
    nodes = conn.execute(f"SELECT nodeno, data FROM {quote_ident(shadow + '_node')}").fetchall()
    parents = {row[0] for row in conn.execute(f"SELECT DISTINCT parentnode FROM {quote_ident(shadow + '_parent')}")}
    expected = conn.execute(f"SELECT count(*) FROM {quote_ident(shadow + '_rowid')}").fetchone()[0]
    cells = b"".join(
        bytes(data[4 : 4 + _LEAF_CELL.itemsize * int.from_bytes(data[2:4], "big")])
        for nodeno, data in nodes
        if nodeno not in parents
    )
    if len(cells) % _LEAF_CELL.itemsize:  # not 2-D cells
        return None
    leaf = np.frombuffer(cells, dtype=_LEAF_CELL)
    if leaf.size != expected:
        return None
    table = np.empty((leaf.size, 5))
    for i, name in enumerate(("id", "minx", "miny", "maxx", "maxy")):
        table[:, i] = leaf[name]
    return table


def _cells(cx: np.ndarray, cy: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the grid cell indexes of shifted centres (SQLite's CAST(... AS INTEGER) truncates; never < 0)."""
    return np.trunc(cx / cell).astype(np.int64), np.trunc(cy / cell).astype(np.int64)


def _firsts(gx: np.ndarray, gy: np.ndarray, cell: float) -> np.ndarray:
    """Return a mask of each cell's first entry (in rank order: its winner)."""
    rows = np.int64(np.trunc(180.0 / cell)) + 2
    return ~pd.Series(gx * rows + gy).duplicated().to_numpy()


def _density(cx: np.ndarray, cy: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Return a summed-area table of the centres' counts on a ``_DENSITY_BINS`` grid, and the grid."""
    if cx.size == 0:
        return np.zeros((_DENSITY_BINS + 1, _DENSITY_BINS + 1), np.int64), (0.0, 0.0, 1.0, 1.0)
    n = _DENSITY_BINS
    x0, y0 = float(cx.min()) - 180.0, float(cy.min()) - 90.0
    w = max((float(cx.max()) - 180.0 - x0) / n, 1e-9) * (1 + 1e-9)
    h = max((float(cy.max()) - 90.0 - y0) / n, 1e-9) * (1 + 1e-9)
    ix = np.minimum(((cx - 180.0 - x0) / w).astype(np.int64), n - 1)
    iy = np.minimum(((cy - 90.0 - y0) / h).astype(np.int64), n - 1)
    counts = np.bincount(ix * n + iy, minlength=n * n).reshape(n, n)
    table = np.zeros((_DENSITY_BINS + 1, _DENSITY_BINS + 1), np.int64)
    table[1:, 1:] = counts.cumsum(0).cumsum(1)
    return table, (x0, y0, w, h)


def _ranked(table: np.ndarray, version: str) -> _Ranked:
    fid = table[:, 0].astype(np.int64)
    area = (table[:, 3] - table[:, 1]) * (table[:, 4] - table[:, 2])
    by_fid = np.argsort(fid)
    order = by_fid[np.argsort(-area[by_fid], kind="stable")]  # largest first, ties by fid (lexsort: 1.6x slower)
    minx, miny, maxx, maxy = (np.ascontiguousarray(table[order, i]) for i in range(1, 5))
    cx, cy = (minx + maxx) / 2 + 180.0, (miny + maxy) / 2 + 90.0
    density, grid = _density(cx, cy)
    return _Ranked(version, fid[order], minx, miny, maxx, maxy, cx, cy, density, grid)


def _full_cells(lo: float, hi: float, shift: float, cell: float) -> tuple[int, int]:
    """Return the first and last index of the cells lying wholly (with a margin) within ``[lo, hi]``."""
    margin = cell * _MARGIN
    return math.ceil((lo + shift + margin) / cell), math.floor((hi + shift - margin) / cell) - 1


def choose(entry: _Ranked, bbox: BBox, cell: float) -> np.ndarray:
    """Return the rank positions of the box's winners, largest first (the rule of ``gpkg_candidate_fids``)."""
    x0, y0, x1, y1 = bbox
    meets = (entry.minx <= x1) & (entry.maxx >= x0) & (entry.miny <= y1) & (entry.maxy >= y0)
    fx0, fx1 = _full_cells(x0, x1, 180.0, cell)
    fy0, fy1 = _full_cells(y0, y1, 90.0, cell)
    if fx0 > fx1 or fy0 > fy1:  # no whole cell inside: group every feature in the box
        inside = np.flatnonzero(meets)
        gx, gy = _cells(entry.cx[inside], entry.cy[inside], cell)
        return inside[_firsts(gx, gy, cell)]
    # Centres clearly within the whole cells belong to them; the rest (edge cells and beyond) are grouped here.
    margin = cell * _MARGIN
    clear = (
        (entry.cx >= fx0 * cell + margin)
        & (entry.cx <= (fx1 + 1) * cell - margin)
        & (entry.cy >= fy0 * cell + margin)
        & (entry.cy <= (fy1 + 1) * cell - margin)
    )
    edge = np.flatnonzero(meets & ~clear)
    gx, gy = _cells(entry.cx[edge], entry.cy[edge], cell)
    outer = (gx < fx0) | (gx > fx1) | (gy < fy0) | (gy > fy1)  # near the inner edge but in a whole cell
    edge, gx, gy = edge[outer], gx[outer], gy[outer]
    edge = edge[_firsts(gx, gy, cell)]
    won = entry.cell_winners(cell)
    whole = won.pos[(won.gx >= fx0) & (won.gx <= fx1) & (won.gy >= fy0) & (won.gy <= fy1)]
    return np.sort(np.concatenate([whole, edge]))


class LayerEnvelopes:
    """Per-layer ranked envelopes of one store, read again when a layer's geometry version changes.

    A layer's envelopes are read by a background thread the first time a wide box asks for them (100,000
    take about 0.1 s); until they are there, tiles are thinned in SQL, so no request waits for them.

    Parameters
    ----------
    version : returns a layer's current geometry version (it must change whenever the envelopes may have).
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
        the box is too small or holds too few features for a pass over the layer to pay, the layer is too large
        or its envelopes are not read yet (SQL then chooses them)."""
        if bbox[2] - bbox[0] < MIN_SPAN_DEG:
            return None
        entry = self.ready(layer)
        if entry is None or entry.estimate(bbox) * SQL_NS < entry.fid.size * PASS_NS:
            return None
        winners = entry.fid[choose(entry, bbox, cell)]
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
