"""Whole-schema operations of ``PostGISStore``: reset, rebuild-and-swap, metadata keys and history loading.

Kept apart from ``postgis.py`` (connections, layers) like ``gpkg_admin`` is for the GeoPackage; the mixin
relies on the store's ``_conn``, ``_s``, ``_migrate`` and ``_bump``, and on ``_dsn``/``_timeout``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

import pandas as pd
import psycopg
from psycopg.rows import TupleRow

from geo.errors import StoreUnavailable
from geo.storage.base import HISTORY_COLUMNS
from geo.storage.sqlfilter import _q
from geo.storage.transfer import history_records

if TYPE_CHECKING:
    from geo.storage.postgis import PostGISStore

Connection = psycopg.Connection[TupleRow]


class PostGISAdmin:
    """Mixin: reset, ``rebuilding`` (build aside, swap in), ``meta_keys`` and ``load_history``."""

    schema: str
    _s: str
    _dsn: str
    _timeout: float

    if TYPE_CHECKING:

        def _conn(self, transaction: bool = False) -> AbstractContextManager[Connection]: ...
        def _migrate(self) -> None: ...
        def _bump(self, conn: Connection, layer: str) -> str: ...

    def _refuse_if_postgis_inside(self, conn: Connection) -> None:
        """Refuse to drop a schema that holds the PostGIS extension itself (CASCADE would take it along)."""
        row = conn.execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'postgis' AND extnamespace = to_regnamespace(%s)",
            [self.schema],
        ).fetchone()
        if row is not None:
            raise ValueError(f"PostGIS is installed in schema {self.schema!r}; dropping it would remove PostGIS")

    def reset(self, *, confirm: bool = False) -> None:
        """Drop the whole planmap schema and create it anew (the append-only trigger is recreated too).

        The new schema has a new dataset uid, so every version string changes; counters and the history
        sequence carry on from where they were all the same.
        """
        if not confirm:
            raise ValueError("reset drops every layer and the whole history: pass confirm=True")
        history = f"{self._s}.planmap_history"
        with self._conn(transaction=True) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"planmap:{self.schema}"])
            self._refuse_if_postgis_inside(conn)
            versions = conn.execute(f"SELECT layer, version FROM {self._s}.planmap_versions").fetchall()
            seq = conn.execute(f"SELECT coalesce(max(seq), 0) FROM {history}").fetchone()
            conn.execute(f"DROP SCHEMA IF EXISTS {self._s} CASCADE")
        self._migrate()
        with self._conn(transaction=True) as conn:
            for layer, version in versions:
                sql = f"INSERT INTO {self._s}.planmap_versions (layer, version) VALUES (%s, %s)"
                conn.execute(sql, [layer, version])
            if seq and seq[0]:
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{history}', 'seq'), %s)", [seq[0]])

    @contextmanager
    def rebuilding(self) -> Iterator[PostGISStore]:
        """Yield a store on an empty staging schema; when the block ends without error, swap it in for this one.

        This is how a whole dataset is replaced on a live service: readers keep the old layers and history
        while the new ones are written, then one transaction renames the staging schema into place and drops
        the old one (readers wait only for that). The new dataset uid changes every version, so no worker
        answers from a cache of the old data. On error the staging schema is dropped and this one is left as
        it was. Progress reports recorded during the build go with the old schema: replacing means that.

        Raises
        ------
        StoreUnavailable
            When another rebuild of the same schema is running.
        """
        from geo.storage.postgis import PostGISStore

        digest = hashlib.md5(self.schema.encode(), usedforsecurity=False).hexdigest()[:16]
        staging = f"planmap_rebuild_{digest}"
        with psycopg.connect(self._dsn, autocommit=True, connect_timeout=max(int(self._timeout), 1)) as guard:
            # A session lock held for the whole build: one rebuild per schema, across processes.
            locked = guard.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [f"planmap:rebuild:{self.schema}"])
            if locked.fetchone() != (True,):
                raise StoreUnavailable(f"another rebuild of schema {self.schema!r} is running")
            self._refuse_if_postgis_inside(guard)
            guard.execute(f"DROP SCHEMA IF EXISTS {_q(staging)} CASCADE")  # left by a build that crashed
            stage = PostGISStore(self._dsn, schema=staging, pool_size=2, timeout=self._timeout)
            try:
                yield stage
            except BaseException:
                stage.close()
                guard.execute(f"DROP SCHEMA IF EXISTS {_q(staging)} CASCADE")
                raise
            stage.close()
            self._swap_in(staging)

    def _swap_in(self, staging: str) -> None:
        """Replace this schema by ``staging`` in one transaction."""
        old = f"planmap_old_{uuid.uuid4().hex[:12]}"
        with self._conn(transaction=True) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"planmap:{self.schema}"])
            conn.execute(f"ALTER SCHEMA {self._s} RENAME TO {_q(old)}")
            conn.execute(f"ALTER SCHEMA {_q(staging)} RENAME TO {self._s}")
            conn.execute(f"DROP SCHEMA {_q(old)} CASCADE")

    def meta_keys(self) -> list[str]:
        """Return the stored metadata keys, sorted."""
        with self._conn() as conn:
            rows = conn.execute(f"SELECT key FROM {self._s}.planmap_meta ORDER BY key").fetchall()
        return [r[0] for r in rows]

    def load_history(self, rows: pd.DataFrame) -> None:
        """COPY history rows, keeping their ``seq``; the sequence then continues after the largest."""
        if rows.empty:
            return
        table = f"{self._s}.planmap_history"
        with self._conn(transaction=True) as conn:
            if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
                raise ValueError("the target already holds progress history; reset it first")
            names = ", ".join(_q(c) for c in HISTORY_COLUMNS)
            with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in history_records(rows):
                    copy.write_row(row)
            # Never move the sequence back: seq numbers name feature versions.
            sequence = f"pg_get_serial_sequence('{table}', 'seq')"
            conn.execute(
                f"SELECT setval({sequence}, greatest((SELECT max(seq) FROM {table}), "
                f"pg_sequence_last_value({sequence}::regclass)))"
            )
            for layer in sorted(set(rows["layer"])):
                self._bump(conn, layer)
