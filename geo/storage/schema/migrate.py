"""Bringing a store's system tables to the head revision with Alembic, run in code (no alembic.ini).

Both stores call in here when they open: ``upgrade_geopackage`` for a .gpkg file and ``upgrade_postgis`` for
a PostgreSQL schema. Each runs every pending revision and gives the dataset its uid in one transaction that
other processes wait for (``BEGIN IMMEDIATE`` in SQLite, an advisory lock in PostgreSQL).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

from geo.errors import StoreUnavailable
from geo.storage.schema.tables import VERSION_TABLE

MIGRATIONS = Path(__file__).with_name("migrations")
"""The Alembic script directory, shipped inside the package."""


def alembic_config(connection: sa.Connection | None = None, schema: str | None = None) -> Config:
    """Return an Alembic configuration for the planmap revisions, bound to ``connection`` and ``schema``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    return config


@lru_cache(maxsize=1)
def head() -> str:
    """Return the newest revision id."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migration revisions in {MIGRATIONS}")
    return revision


def upgrade(connection: sa.Connection, schema: str | None) -> None:
    """Run every pending revision on ``connection``, inside its current transaction.

    Parameters
    ----------
    connection : an SQLAlchemy connection to SQLite (a GeoPackage) or PostgreSQL, with a transaction begun
        by the caller; the caller commits.
    schema : the PostgreSQL schema holding the tables (and the version table); None for SQLite.
    """
    current = revision(connection, schema)
    if current is not None and current not in known_revisions():
        raise StoreUnavailable(
            f"the database is at schema revision {current}, which this planmap does not know (it knows up to "
            f"{head()}): a newer planmap wrote it; run that version, or a copy of the data made for this one"
        )
    command.upgrade(alembic_config(connection, schema), "head")


@lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    """Return the ids of every revision this planmap ships."""
    return frozenset(r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def revision(connection: sa.Connection, schema: str | None) -> str | None:
    """Return the revision a database is at, or None before any (a new or pre-Alembic database)."""
    if not sa.inspect(connection).has_table(VERSION_TABLE, schema=schema):
        return None
    table = sa.table(VERSION_TABLE, sa.column("version_num"), schema=schema)
    return connection.execute(sa.select(table.c.version_num)).scalar()


def geopackage_is_current(conn: sqlite3.Connection) -> bool:
    """Return whether a GeoPackage is at the head revision (read with the store's own connection, no write)."""
    try:
        row = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    except sqlite3.OperationalError:  # no version table: not migrated yet
        return False
    return row is not None and row[0] == head()


def upgrade_geopackage(path: Path) -> None:
    """Upgrade a GeoPackage's system tables to head and give it a dataset uid, in one ``BEGIN IMMEDIATE``."""
    engine = sa.create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False),
        poolclass=NullPool,
    )
    # pysqlite would begin a deferred transaction; IMMEDIATE takes the write lock first, so two processes
    # opening the same new file upgrade it one after the other.
    sa.event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    try:
        with engine.begin() as connection:
            upgrade(connection, None)
            _seed_uid(connection, None)
    except sa.exc.OperationalError as exc:
        raise StoreUnavailable(f"cannot upgrade GeoPackage {path}: {exc.orig}") from exc
    except StoreUnavailable as exc:
        raise StoreUnavailable(f"GeoPackage {path}: {exc}") from exc
    finally:
        engine.dispose()


def upgrade_postgis(dsn: str, schema: str, connect_timeout: int) -> None:
    """Create or upgrade a PostgreSQL schema to head (with PostGIS and a dataset uid), serialised across processes.

    Parameters
    ----------
    dsn : a libpq connection string or ``postgresql://`` URL.
    schema : the schema to hold planmap's tables; created when missing.
    connect_timeout : seconds libpq may take to connect.
    """
    import psycopg  # the optional "postgis" dependency: GeoPackage users need not install it

    engine = sa.create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(dsn, connect_timeout=connect_timeout),
        poolclass=NullPool,
    )
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"planmap:{schema}"})
            installed = connection.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'"))
            if installed.first() is None:
                connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
            connection.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            upgrade(connection, schema)
            _seed_uid(connection, schema)
    except sa.exc.DBAPIError as exc:
        raise StoreUnavailable(f"cannot upgrade PostGIS schema {schema!r}: {exc.orig}") from exc
    except StoreUnavailable as exc:
        raise StoreUnavailable(f"PostGIS schema {schema!r}: {exc}") from exc
    finally:
        engine.dispose()


def _seed_uid(connection: sa.Connection, schema: str | None) -> None:
    """Store a new ``dataset_uid`` unless the dataset has one (versions are ``<uid>.<counter>``)."""
    meta = sa.table("planmap_meta", sa.column("key"), sa.column("value"), schema=schema)
    found = connection.execute(sa.select(meta.c.key).where(meta.c.key == "dataset_uid")).first()
    if found is None:
        connection.execute(meta.insert().values(key="dataset_uid", value=json.dumps(uuid.uuid4().hex[:12])))
