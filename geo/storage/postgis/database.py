"""One PostgreSQL schema: the connection pool, migrations, and the helpers every PostGIS module shares.

Text columns use ``COLLATE "C"`` (byte order, like SQLite), and dates and JSON come back as text, so the
store's answers match the GeoPackage's for the same data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from geo.errors import StoreFull, StoreReadOnly, StoreUnavailable, UnknownCollection
from geo.storage.consistency import current_scope
from geo.storage.postgis.replicas import ReadRouter, later
from geo.storage.postgis.versions import VersionCache
from geo.storage.schema import migrate as schema
from geo.storage.sql import quote_ident
from geo.storage.values import Health

Connection = psycopg.Connection[TupleRow]

SYSTEM_TABLES = ("planmap_history", "planmap_versions", "planmap_meta")
MAX_IDENTIFIER = 63
"""PostgreSQL's NAMEDATALEN - 1, in bytes."""


def check_identifier(name: str, what: str) -> None:
    """Refuse an empty name or one longer than PostgreSQL keeps."""
    if not name or len(name.encode()) > MAX_IDENTIFIER:
        raise ValueError(f"{what} name {name!r} must be 1 to {MAX_IDENTIFIER} bytes long")


def _configure(conn: Connection) -> None:
    """Return dates and JSON as text, as SQLite does; ``frame_from_rows`` parses JSON like for the GeoPackage."""
    for name in ("date", "json", "jsonb"):
        conn.adapters.register_loader(name, TextLoader)
    conn.execute("SET DateStyle TO ISO")


def make_pool(dsn: str, name: str, size: int, timeout: float) -> ConnectionPool[Connection]:
    """Return an unopened pool of autocommit connections configured like every planmap connection."""
    return ConnectionPool(
        dsn,
        min_size=1,
        max_size=max(size, 1),
        kwargs={"autocommit": True, "connect_timeout": max(int(timeout), 1)},
        configure=_configure,
        # A pooled connection is checked before it is lent, so a database restart costs only the
        # requests in flight then, not every stale connection afterwards.
        check=ConnectionPool.check_connection,
        open=False,
        name=name,
    )


def version_string(row: tuple[Any, ...] | None, prefix: str) -> str:
    """Format ``(uid JSON text, counter)`` as ``<uid>.<prefix><counter>`` (0 when there is none)."""
    uid = json.loads(row[0]) if row and row[0] else ""
    return f"{uid}.{prefix}{(row[1] if row else None) or 0}"


class Database:
    """A pooled PostgreSQL schema holding planmap's tables.

    Parameters
    ----------
    dsn : a libpq connection string or ``postgresql://`` URL.
    schema : the schema; created, with the PostGIS extension, when missing.
    pool_size : the most connections held open.
    timeout : seconds to wait for a connection before raising ``StoreUnavailable``.
    replicas : streaming replicas of this database that answer reads (``read``); none by default.
    replica_wait_s : longest wait for a replica to replay a write a read must see, before reading the primary.
    version_ttl_s : how long a layer version read on the primary is reused (``VersionCache``); 0 reads it
        every time. Not used with replicas.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str,
        pool_size: int,
        timeout: float,
        replicas: Sequence[str] = (),
        replica_wait_s: float = 0.5,
        version_ttl_s: float = 0.0,
    ) -> None:
        check_identifier(schema, "schema")
        self.dsn, self.schema, self.timeout = dsn, schema, timeout
        self.versions = VersionCache(0.0 if replicas else version_ttl_s, (dsn, schema))
        self.s = quote_ident(schema)
        self._pool = make_pool(dsn, f"planmap-{schema}", pool_size, timeout)
        self.router: ReadRouter | None = None
        try:
            # One direct attempt first: the pool only reports a timeout, libpq says what went wrong.
            psycopg.connect(dsn, connect_timeout=max(int(timeout), 1)).close()
            self._pool.open(wait=True, timeout=timeout)
            self.migrate()
            if replicas:
                self.router = ReadRouter(
                    replicas,
                    primary=self.conn,
                    make_pool=lambda url, name: make_pool(url, name, pool_size, timeout),
                    # A replica that cannot lend a connection at once is skipped, not waited for.
                    timeout=min(timeout, 1.0),
                    wait_s=replica_wait_s,
                )
                with self._pool.connection(timeout=timeout) as conn:
                    self.router.opened(conn)
        except (PoolTimeout, psycopg.Error) as exc:
            self.close()
            raise StoreUnavailable(f"cannot open PostGIS schema {schema!r}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def health(self) -> Health:
        """Check the server answers, planmap's tables are complete, and it accepts writes (not a standby)."""
        try:
            with self.conn() as conn:
                found = conn.execute(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s)",
                    [self.schema, list(SYSTEM_TABLES)],
                ).fetchone()
                uid = conn.execute(f"SELECT 1 FROM {self.s}.planmap_meta WHERE key = 'dataset_uid'").fetchone()
                standby = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        except (StoreUnavailable, psycopg.Error) as exc:
            return Health(False, False, (f"PostgreSQL store {self.schema!r} unavailable: {exc}",))
        problems = []
        if not found or found[0] != len(SYSTEM_TABLES) or uid is None:
            problems.append(f"incomplete store: schema {self.schema!r} lacks planmap's tables or its dataset uid")
        readable = not problems
        if standby and standby[0]:
            problems.append("the database is a read-only standby")
        return Health(readable, readable and not problems, tuple(problems))

    def t(self, table: str) -> str:
        """Return a table name qualified by the schema, quoted."""
        return f"{self.s}.{quote_ident(table)}"

    def read(self) -> AbstractContextManager[Connection]:
        """Lend a connection for reads only: from a replica when there are any (``ReadRouter``), else the primary."""
        return self.conn() if self.router is None else self.router.read()

    @contextmanager
    def conn(self, transaction: bool = False, *, tracked: bool = True) -> Iterator[Connection]:
        """Lend a pooled primary connection (autocommit), optionally inside one transaction.

        With replicas, where the WAL ends after a ``tracked`` transaction commits is recorded for the reads
        that must see it (``ReadRouter.note_write``); writes only ever read back on the primary (accounts,
        sessions) need not be.
        """
        try:
            with self._pool.connection(timeout=self.timeout) as conn:
                if not transaction:
                    yield conn
                    return
                with conn.transaction():
                    yield conn
                if self.router is not None and tracked:
                    self.router.note_write(conn)
                elif self.router is None:
                    self._wrote(conn, tracked)
        except psycopg.errors.DiskFull as exc:
            raise StoreFull(f"the PostgreSQL server's disk is full: {exc}") from exc
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            raise StoreReadOnly(f"PostgreSQL store {self.schema!r} accepts no writes now: {exc}") from exc
        except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailable(f"PostgreSQL store {self.schema!r} unavailable: {exc}") from exc

    def _wrote(self, conn: Connection, tracked: bool) -> None:
        """After a commit: forget the cached versions, and have the request's client read its write exactly.

        The position of the write goes to the request's scope, which hands it to the client (as with
        replicas): its next reads, on any worker, read the versions from the database.
        """
        self.versions.forget()
        scope = current_scope()
        if tracked and scope is not None and self.versions.ttl_s > 0:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            position = str(row[0]) if row else None
            scope.wrote = later(scope.wrote, position)
            scope.after = later(scope.after, position)

    def migrate(self) -> None:
        """Create or upgrade the schema to the head revision (``geo.storage.schema``), with a dataset uid."""
        schema.upgrade_postgis(self.dsn, self.schema, max(int(self.timeout), 1))

    def close(self) -> None:
        """Close the connection pools."""
        if self.router is not None:
            self.router.close()
        self._pool.close()

    def columns(self, conn: Connection, layer: str) -> dict[str, str]:
        """Return a layer's column types; raise ``UnknownCollection`` when the schema holds no such layer."""
        row = conn.execute(
            f"SELECT value FROM {self.s}.planmap_meta WHERE key = %s AND to_regclass(%s) IS NOT NULL",
            [f"columns:{layer}", self.t(layer)],
        ).fetchone()
        if row is None:
            raise UnknownCollection(f"no collection {layer!r} in schema {self.schema!r}")
        types: dict[str, str] = json.loads(row[0])
        return types

    # The dataset uid is read with every version, not kept from start-up: a schema rebuilt and swapped in
    # (``PostGISStore.rebuilding``) has a new uid, and every worker's versions (cache keys, ETags) change with it.
    def uid_sql(self) -> str:
        """Return a scalar subquery of the dataset uid (JSON text)."""
        return f"(SELECT value FROM {self.s}.planmap_meta WHERE key = 'dataset_uid')"

    def bump(self, conn: Connection, layer: str, *, geometry: bool = False) -> str:
        """Count one more write of ``layer`` inside the caller's transaction; return the new version.

        ``geometry``: the write may change the layer's geometry (its ``geometry_version`` is counted too).
        """
        row = conn.execute(
            f"INSERT INTO {self.s}.planmap_versions AS v (layer, version, geometry_version) VALUES (%s, 1, %s) "
            "ON CONFLICT (layer) DO UPDATE SET version = v.version + 1, "
            "geometry_version = v.geometry_version + excluded.geometry_version "
            f"RETURNING {self.uid_sql()}, version",
            [layer, int(geometry)],
        ).fetchone()
        return version_string(row, "")

    def set_meta(self, conn: Connection, key: str, value: Any) -> None:
        """Store a JSON value under ``key`` on ``conn``."""
        conn.execute(
            f"INSERT INTO {self.s}.planmap_meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, json.dumps(value, ensure_ascii=False)],
        )
