"""The GeoPackage file itself: sqlite3 connections per thread, serialised writes, and planmap's own tables.

Beside the feature tables, planmap keeps the append-only progress history, a write counter per layer
(data versions) and JSON metadata in the same file, so one copy of the file is the whole dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

import pyogrio

from geo.errors import StoreBusy, StoreFull, StoreReadOnly, StoreUnavailable
from geo.storage.gpkg.functions import register_functions
from geo.storage.schema import migrate as schema
from geo.storage.values import Health

BUSY_TIMEOUT_S = 3.0
"""How long a write waits for a lock held by another writer (another worker, QGIS) before answering busy."""
MIN_FREE_BYTES = 1 << 20
"""Free disk space below which the store reports itself not writable."""
SYSTEM_TABLES = ("planmap_history", "planmap_versions", "planmap_meta")
MMAP_BYTES = 128 << 20
"""File bytes each connection maps: R-tree and row pages are read from the OS page cache without copies.

Every thread has its own connection and each mapping counts in the process's RSS, so the map is kept
well below a 1M-parcel file (~530 MB): 512 MiB per connection made a 16-thread server report 5.8 GiB.
"""
CACHE_KIB = 8192
"""SQLite's private page cache per connection (anonymous memory; mapped pages need little of it)."""


def store_error(exc: sqlite3.Error, path: Path) -> StoreUnavailable:
    """Translate an SQLite failure into the store error a client can act on (full, read-only, busy...)."""
    text = str(exc).lower()
    if "full" in text:
        return StoreFull(f"the disk holding {path.name} is full: {exc}")
    if "readonly" in text or "read-only" in text or "permission" in text:
        return StoreReadOnly(f"{path.name} cannot be written: {exc}")
    if "locked" in text or "busy" in text:
        return StoreBusy(f"{path.name} is locked by another writer; retry in a few seconds")
    return StoreUnavailable(f"GeoPackage {path.name} failed: {exc}")


def _translatable(exc: BaseException) -> bool:
    """Failures of the file or the disk, not of the statement (constraints and triggers keep their type)."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


def _identity(path: Path) -> tuple[int, int] | None:
    """Return the file's (device, inode), or None when nothing is at the path."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def now_iso() -> str:
    """Return the current UTC time as ISO text with milliseconds (``recorded_at``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Database:
    """One GeoPackage file: WAL mode, one connection per thread, writes serialised by a lock and ``BEGIN IMMEDIATE``.

    Parameters
    ----------
    path : the .gpkg file; created (with the planmap system tables) when absent.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self.write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _create_empty_gpkg(self.path)
        # The file this store serves: if another file (or none) appears at the path later, the store fails
        # closed instead of writing to an unlinked inode or creating an empty database there.
        self._identity = _identity(self.path)
        self.init_system_tables()

    def check_file(self) -> None:
        """Raise ``StoreUnavailable`` when the file was deleted or replaced since the store opened it."""
        if _identity(self.path) != self._identity:
            raise StoreUnavailable(
                f"the GeoPackage {self.path} was deleted or replaced while the server ran; "
                "nothing was written; restore the file or restart the server on the new one"
            )

    def conn(self) -> sqlite3.Connection:
        """Return this thread's connection (autocommit mode), opening it on first use."""
        self.check_file()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                # mode=rw: never create a database at the path (a missing file is an error, not a new store).
                uri = f"file:{self.path.resolve().as_posix()}?mode=rw"
                conn = sqlite3.connect(
                    uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as exc:
                raise store_error(exc, self.path) from exc
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            # Reads of scattered rows (R-tree hits) are dominated by page fetches: map the file, cache more.
            conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            register_functions(conn)
            self._local.conn = conn
            self._connections.append(conn)
        return conn

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Lend this thread's connection for reads; file and disk failures become store errors."""
        conn = self.conn()
        with self._translated():
            yield conn

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """Hold this process's write lock (bounded wait) and lend the connection; failures become store errors."""
        conn = self.conn()
        if not self.write_lock.acquire(timeout=BUSY_TIMEOUT_S):
            raise StoreBusy(f"{self.path.name} is busy with another write; retry in a few seconds")
        try:
            with self._translated():
                yield conn
        finally:
            self.write_lock.release()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn failures of the file or the disk into store errors (constraints and triggers keep their type)."""
        try:
            yield
        except sqlite3.Error as exc:
            if _translatable(exc):
                raise store_error(exc, self.path) from exc
            raise

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one write transaction (rolled back on error, refused if the file was swapped)."""
        if not os.access(self.path, os.W_OK):  # e.g. made immutable: SQLite would fail only at a checkpoint
            raise StoreReadOnly(f"{self.path.name} cannot be written (read-only or immutable file)")
        with self.locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                self.check_file()  # never acknowledge a write to a file that is no longer at the path
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def health(self) -> Health:
        """Check that the file is the one opened, its tables are complete, and a write could start now."""
        problems: list[str] = []
        try:
            with self.reading() as conn:
                names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                missing = [t for t in (*SYSTEM_TABLES, "gpkg_contents") if t not in names]
                if missing or not self.get_meta("dataset_uid"):
                    problems.append(f"incomplete store: missing {missing or ['dataset_uid']}")
        except StoreUnavailable as exc:
            return Health(False, False, (str(exc),))
        readable = not problems
        problems += self._write_problems()
        return Health(readable, readable and len(problems) == 0, tuple(problems))

    def _write_problems(self) -> list[str]:
        """Say what would stop a write now: permissions, disk space, another program's lock."""
        if not os.access(self.path, os.W_OK) or not os.access(self.path.parent, os.W_OK):
            return [f"{self.path.name} or its directory is not writable"]
        if shutil.disk_usage(self.path.parent).free < MIN_FREE_BYTES:
            return [f"less than {MIN_FREE_BYTES >> 20} MiB free on the disk holding {self.path.name}"]
        try:
            with self.locked() as conn:
                conn.execute("PRAGMA busy_timeout=200")
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("ROLLBACK")
                finally:
                    conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        except StoreUnavailable as exc:
            return [str(exc)]
        return []

    def init_system_tables(self) -> None:
        """Bring planmap's tables to the head revision (``geo.storage.schema``) unless they are there.

        Opening a current file for reading writes nothing to it.
        """
        with self.reading() as conn:
            if schema.geopackage_is_current(conn) and self.get_meta("dataset_uid"):
                return
        schema.upgrade_geopackage(self.path)

    def close(self) -> None:
        """Close every connection opened."""
        for conn in self._connections:
            conn.close()
        self._connections.clear()
        self._local = threading.local()

    def uid(self) -> str:
        """Return the dataset uid (new after a reset, so versions never repeat)."""
        return str(self.get_meta("dataset_uid"))

    def counter(self, layer: str, column: str) -> tuple[str, int | None]:
        """Return the dataset uid and the layer's ``column`` of ``planmap_versions`` (None without a row), read
        in one statement: a tile reads them on every request. ``column``: ``version`` or ``geometry_version``."""
        with self.reading() as conn:
            uid, count = conn.execute(
                "SELECT (SELECT value FROM planmap_meta WHERE key = 'dataset_uid'), "
                f"(SELECT {column} FROM planmap_versions WHERE layer = ?)",
                (layer,),
            ).fetchone()
        return str(None if uid is None else json.loads(uid)), count

    def bump(self, conn: sqlite3.Connection, layer: str, *, geometry: bool = False) -> str:
        """Count one more write of ``layer`` inside the caller's transaction; return the new version.

        ``geometry``: the write may change the layer's geometry (its ``geometry_version`` is counted too).
        """
        conn.execute(
            "INSERT INTO planmap_versions (layer, version, geometry_version) VALUES (?, 1, ?) "
            "ON CONFLICT(layer) DO UPDATE SET version = version + 1, "
            "geometry_version = geometry_version + excluded.geometry_version",
            (layer, int(geometry)),
        )
        n = conn.execute("SELECT version FROM planmap_versions WHERE layer = ?", (layer,)).fetchone()[0]
        return f"{self.uid()}.{n}"

    def feature_version(self, conn: sqlite3.Connection, layer: str, feature_id: str) -> str:
        """Return ``<dataset uid>.f<last history seq>`` for one feature."""
        row = conn.execute(
            "SELECT max(seq) FROM planmap_history WHERE layer = ? AND feature_id = ?", (layer, feature_id)
        ).fetchone()
        return f"{self.uid()}.f{row[0] or 0}"

    def get_meta(self, key: str) -> Any:
        """Return the JSON value stored under ``key``, or None."""
        with self.reading() as conn:
            row = conn.execute("SELECT value FROM planmap_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    @staticmethod
    def set_meta(conn: sqlite3.Connection, key: str, value: Any) -> None:
        """Store a JSON value under ``key`` inside the caller's transaction."""
        conn.execute(
            "INSERT INTO planmap_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value, ensure_ascii=False)),
        )


def _create_empty_gpkg(path: Path) -> None:
    """Create a valid GeoPackage holding only the (empty) planmap_meta attributes table.

    GDAL writes the gpkg_* system tables and default spatial reference systems; the other planmap tables
    are added by the migrations in ``geo.storage.schema``.
    """
    empty = pd.DataFrame({"key": pd.Series([], dtype=str), "value": pd.Series([], dtype=str)})
    pyogrio.write_dataframe(empty, path, layer="planmap_meta", driver="GPKG")
