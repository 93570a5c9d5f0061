"""Uploads live in a planmap-owned directory: one workspace per request, removed when it ends, stale ones swept.

A worker killed during an import (OOM, SIGKILL, a redeploy) cannot clean up after itself, so whatever it
left is removed at the next start-up once it is older than ``upload_max_age_s``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

PREFIX = "planmap-"
"""Every workspace's name starts with this; the sweep removes nothing else."""


@contextmanager
def workspace(root: Path, purpose: str) -> Iterator[Path]:
    """Yield a new directory ``<root>/planmap-<purpose>-<pid>-<random>``; remove it afterwards, also on errors."""
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{purpose}-{os.getpid()}-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _last_change(path: Path) -> float:
    """Return the newest modification time of ``path`` and, for a directory, of anything in it."""
    times = [path.lstat().st_mtime]
    if path.is_dir() and not path.is_symlink():
        times += [p.lstat().st_mtime for p in path.rglob("*")]
    return max(times)


def sweep(root: Path, max_age_s: float, now: float | None = None) -> list[Path]:
    """Remove the workspaces in ``root`` unchanged for more than ``max_age_s`` seconds; return them.

    Only ``planmap-*`` entries are considered, so a misconfigured ``root`` (say, the data directory)
    loses nothing else; entries that vanish meanwhile (another worker sweeping) are skipped.
    """
    if not root.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - max_age_s
    removed = []
    for entry in root.glob(f"{PREFIX}*"):
        try:
            if _last_change(entry) >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:  # start-up goes on; the entry is tried again next time
            logger.warning("could not remove stale upload %s: %s", entry, exc)
            continue
        removed.append(entry)
    if removed:
        logger.info("removed %d stale upload(s) from %s", len(removed), root)
    return removed
