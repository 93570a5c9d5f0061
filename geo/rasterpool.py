"""A few open GDAL datasets per raster file and overview, lent to one thread at a time.

A GDAL dataset handle must not be used by two threads at once, and each handle keeps its own decode
buffers (~1 MiB for a 512 px float block) and its own blocks in GDAL's cache. One handle per thread and
overview grew a tile server by ~300 MiB under 16 clients (40 worker threads x 6 overviews); a small
pool bounds the handles at ``HANDLES`` per file and overview, and a tile waits for a free one (there are
only so many cores to decode on anyway). A changed file (new modification time) gets new handles.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import rasterio
from rasterio.io import DatasetReader

HANDLES = max(4, 2 * (os.cpu_count() or 1))
"""Open handles per raster file and overview at most."""


@dataclass
class _Pool:
    """The idle handles of one file version and overview, and how many may be lent at once."""

    mtime: float
    free: list[DatasetReader] = field(default_factory=list)
    slots: threading.Semaphore = field(default_factory=lambda: threading.BoundedSemaphore(HANDLES))


_pools: dict[tuple[str, int | None], _Pool] = {}
_lock = threading.Lock()


def _open(path: Path, overview: int | None) -> DatasetReader:
    if overview is None:
        return rasterio.open(path)
    with rasterio.open(path) as full:
        level = full.overviews(1).index(overview)
    return rasterio.open(path, overview_level=level)


def _pool(path: Path, overview: int | None) -> _Pool:
    """Return the pool of the file's current version, closing the idle handles of an older one."""
    mtime = os.stat(path).st_mtime
    key = (str(path), overview)
    with _lock:
        pool = _pools.get(key)
        if pool is None or pool.mtime != mtime:
            for stale in pool.free if pool is not None else []:
                stale.close()
            pool = _pools[key] = _Pool(mtime)
        return pool


@contextmanager
def lend(path: Path, overview: int | None = None) -> Iterator[DatasetReader]:
    """Lend an open dataset of ``path`` (``overview``: an overview's decimation factor; None: the full image)."""
    pool = _pool(path, overview)
    with pool.slots:
        with _lock:
            src = pool.free.pop() if pool.free else None
        if src is None:
            src = _open(path, overview)
        try:
            yield src
        finally:
            with _lock:
                pool.free.append(src)
