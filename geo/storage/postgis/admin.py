"""Whole-schema operations of the PostGIS store: reset, rebuild-and-swap, metadata keys and history loading."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import psycopg

from geo.errors import StoreUnavailable
from geo.storage.postgis.database import Connection, Database
from geo.storage.sql import quote_ident
from geo.storage.transfer import history_records
from geo.storage.values import HISTORY_COLUMNS


def _refuse_if_postgis_inside(db: Database, conn: Connection) -> None:
    """Refuse to drop a schema that holds the PostGIS extension itself (CASCADE would take it along)."""
    row = conn.execute(
        "SELECT 1 FROM pg_extension WHERE extname = 'postgis' AND extnamespace = to_regnamespace(%s)", [db.schema]
    ).fetchone()
    if row is not None:
        raise ValueError(f"PostGIS is installed in schema {db.schema!r}; dropping it would remove PostGIS")


def reset(db: Database) -> None:
    """Drop the whole planmap schema and create it anew (the append-only trigger is recreated too).

    The new schema has a new dataset uid, so every version string changes; counters and the history
    sequence carry on from where they were all the same.
    """
    history = f"{db.s}.planmap_history"
    with db.conn(transaction=True) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"planmap:{db.schema}"])
        _refuse_if_postgis_inside(db, conn)
        versions = conn.execute(f"SELECT layer, version FROM {db.s}.planmap_versions").fetchall()
        seq = conn.execute(f"SELECT coalesce(max(seq), 0) FROM {history}").fetchone()
        conn.execute(f"DROP SCHEMA IF EXISTS {db.s} CASCADE")
    db.migrate()
    with db.conn(transaction=True) as conn:
        for layer, version in versions:
            conn.execute(f"INSERT INTO {db.s}.planmap_versions (layer, version) VALUES (%s, %s)", [layer, version])
        if seq and seq[0]:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{history}', 'seq'), %s)", [seq[0]])


@contextmanager
def staging_schema(db: Database) -> Iterator[str]:
    """Yield the name of an empty staging schema for a rebuild of ``db``'s schema, held for the whole build.

    One rebuild per schema at a time, across processes (a session advisory lock). On error the staging
    schema is dropped; on success the caller swaps it in with :func:`swap_in`.

    Raises
    ------
    StoreUnavailable
        When another rebuild of the same schema is running.
    """
    digest = hashlib.md5(db.schema.encode(), usedforsecurity=False).hexdigest()[:16]
    staging = f"planmap_rebuild_{digest}"
    with psycopg.connect(db.dsn, autocommit=True, connect_timeout=max(int(db.timeout), 1)) as guard:
        locked = guard.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [f"planmap:rebuild:{db.schema}"])
        if locked.fetchone() != (True,):
            raise StoreUnavailable(f"another rebuild of schema {db.schema!r} is running")
        _refuse_if_postgis_inside(db, guard)
        guard.execute(f"DROP SCHEMA IF EXISTS {quote_ident(staging)} CASCADE")  # left by a build that crashed
        try:
            yield staging
        except BaseException:
            guard.execute(f"DROP SCHEMA IF EXISTS {quote_ident(staging)} CASCADE")
            raise


def swap_in(db: Database, staging: str) -> None:
    """Replace ``db``'s schema by ``staging`` in one transaction (readers wait only for that)."""
    old = f"planmap_old_{uuid.uuid4().hex[:12]}"
    with db.conn(transaction=True) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"planmap:{db.schema}"])
        conn.execute(f"ALTER SCHEMA {db.s} RENAME TO {quote_ident(old)}")
        conn.execute(f"ALTER SCHEMA {quote_ident(staging)} RENAME TO {db.s}")
        conn.execute(f"DROP SCHEMA {quote_ident(old)} CASCADE")


def meta_keys(db: Database) -> list[str]:
    """Return the stored metadata keys, sorted."""
    with db.read() as conn:
        rows = conn.execute(f"SELECT key FROM {db.s}.planmap_meta ORDER BY key").fetchall()
    return [r[0] for r in rows]


def load_history(db: Database, rows: pd.DataFrame) -> None:
    """COPY history rows, keeping their ``seq``; the sequence then continues after the largest."""
    if rows.empty:
        return
    table = f"{db.s}.planmap_history"
    with db.conn(transaction=True) as conn:
        if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
            raise ValueError("the target already holds progress history; reset it first")
        names = ", ".join(quote_ident(c) for c in HISTORY_COLUMNS)
        try:
            with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in history_records(rows):
                    copy.write_row(row)
        except psycopg.DataError as exc:
            raise ValueError(f"a history row cannot be stored in PostgreSQL (e.g. a NUL in a note): {exc}") from exc
        # Never move the sequence back: seq numbers name feature versions.
        sequence = f"pg_get_serial_sequence('{table}', 'seq')"
        conn.execute(
            f"SELECT setval({sequence}, greatest((SELECT max(seq) FROM {table}), "
            f"pg_sequence_last_value({sequence}::regclass)))"
        )
        for layer in sorted(set(rows["layer"])):
            db.bump(conn, layer)
