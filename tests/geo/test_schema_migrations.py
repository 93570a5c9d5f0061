"""The system tables come from the Alembic revisions in geo.storage.schema, on both stores.

A database made by the code before Alembic (its DDL is copied below as it was) must be taken over in place:
same data, same history, same versions, same column types, with the new tables added.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import geopandas as gpd
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point

from geo.errors import StoreUnavailable
from geo.storage.base import HistoryEntry
from geo.storage.gpkg import GeoPackageStore
from geo.storage.gpkg.database import Database as GeoPackageDatabase
from geo.storage.postgis import PostGISStore
from geo.storage.postgis.database import Database as PostGISDatabase
from geo.storage.schema import VERSION_TABLE, head, metadata
from geo.storage.schema.migrate import alembic_config
from layers.errors import NotAuthenticated
from layers.tokens import authenticate, create_token, hash_token, list_tokens
from tests.conftest import PG_URL, _drop_schema, postgis_available

# What the GeoPackage store ran to make its tables before the Alembic revisions (commit 6ac8676).
OLD_GPKG_DDL = (
    """CREATE TABLE IF NOT EXISTS planmap_history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        layer TEXT NOT NULL, feature_id TEXT NOT NULL, date TEXT NOT NULL,
        status TEXT NOT NULL, percent REAL, note TEXT, author TEXT,
        recorded_at TEXT NOT NULL, data TEXT, is_demo INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS planmap_history_feature ON planmap_history (layer, feature_id, date)",
    "CREATE INDEX IF NOT EXISTS planmap_history_date ON planmap_history (layer, date)",
    """CREATE TRIGGER IF NOT EXISTS planmap_history_no_update BEFORE UPDATE ON planmap_history
        BEGIN SELECT RAISE(ABORT, 'planmap_history is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS planmap_history_no_delete BEFORE DELETE ON planmap_history
        BEGIN SELECT RAISE(ABORT, 'planmap_history is append-only'); END""",
    "CREATE TABLE IF NOT EXISTS planmap_versions (layer TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS planmap_meta (
        fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS planmap_meta_key ON planmap_meta (key)",
)
OLD_GPKG_CONTENTS = """INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change)
    VALUES (?, 'attributes', ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))"""

# What the PostGIS store ran before (its own list, version kept in planmap_migrations).
OLD_PG_MIGRATIONS = (
    (
        'CREATE TABLE {s}.planmap_meta (key text COLLATE "C" PRIMARY KEY, value json NOT NULL)',
        'CREATE TABLE {s}.planmap_versions (layer text COLLATE "C" PRIMARY KEY, version bigint NOT NULL)',
        """CREATE TABLE {s}.planmap_history (
            seq bigserial PRIMARY KEY, layer text COLLATE "C" NOT NULL, feature_id text COLLATE "C" NOT NULL,
            date date NOT NULL, status text NOT NULL, percent double precision, note text, author text,
            recorded_at text NOT NULL, data json, is_demo boolean NOT NULL DEFAULT false)""",
        "CREATE INDEX planmap_history_feature ON {s}.planmap_history (layer, feature_id, date)",
        "CREATE INDEX planmap_history_date ON {s}.planmap_history (layer, date)",
        """CREATE FUNCTION {s}.planmap_append_only() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'planmap_history is append-only'; END $$""",
        """CREATE TRIGGER planmap_history_no_change BEFORE UPDATE OR DELETE ON {s}.planmap_history
            FOR EACH ROW EXECUTE FUNCTION {s}.planmap_append_only()""",
        """CREATE TRIGGER planmap_history_no_truncate BEFORE TRUNCATE ON {s}.planmap_history
            FOR EACH STATEMENT EXECUTE FUNCTION {s}.planmap_append_only()""",
    ),
)


def _old_gpkg_init(self) -> None:
    conn = self.conn()
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    if {"planmap_history_no_delete", "planmap_versions", "planmap_meta_key"} <= names and self.get_meta("dataset_uid"):
        return
    with self.write() as conn:
        for ddl in OLD_GPKG_DDL:
            conn.execute(ddl)
        conn.execute(OLD_GPKG_CONTENTS, ("planmap_history", "planmap_history", "append-only progress history"))
        conn.execute(OLD_GPKG_CONTENTS, ("planmap_versions", "planmap_versions", "data version per layer"))
        conn.execute(
            "INSERT OR IGNORE INTO planmap_meta (key, value) VALUES ('dataset_uid', ?)",
            (json.dumps(uuid.uuid4().hex[:12]),),
        )


def _old_pg_migrate(self) -> None:
    with self.conn(transaction=True) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"planmap:{self.schema}"])
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone() is None:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.s}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.s}.planmap_migrations "
            "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {self.s}.planmap_migrations").fetchone()
        for version, statements in enumerate(OLD_PG_MIGRATIONS, start=1):
            if row is not None and version > row[0]:
                for statement in statements:
                    conn.execute(statement.format(s=self.s))
                conn.execute(f"INSERT INTO {self.s}.planmap_migrations (version) VALUES (%s)", [version])
        conn.execute(
            f"INSERT INTO {self.s}.planmap_meta (key, value) VALUES ('dataset_uid', %s) ON CONFLICT DO NOTHING",
            [json.dumps(uuid.uuid4().hex[:12])],
        )


def _old_gpkg_bump(self, conn, layer: str, *, geometry: bool = False) -> str:
    """Count a write as the stores did before ``geometry_version``."""
    conn.execute(
        "INSERT INTO planmap_versions (layer, version) VALUES (?, 1) "
        "ON CONFLICT(layer) DO UPDATE SET version = version + 1",
        (layer,),
    )
    return (
        f"{self.uid()}.{conn.execute('SELECT version FROM planmap_versions WHERE layer = ?', (layer,)).fetchone()[0]}"
    )


def _old_pg_bump(self, conn, layer: str, *, geometry: bool = False) -> str:
    row = conn.execute(
        f"INSERT INTO {self.s}.planmap_versions AS v (layer, version) VALUES (%s, 1) "
        f"ON CONFLICT (layer) DO UPDATE SET version = v.version + 1 RETURNING {self.uid_sql()}, version",
        [layer],
    ).fetchone()
    return f"{row[0]}.{row[1]}"


def _as_old_gpkg(monkeypatch) -> None:
    """Make GeoPackage stores opened from now on create and write the system tables of before Alembic."""
    monkeypatch.setattr(GeoPackageDatabase, "init_system_tables", _old_gpkg_init)
    monkeypatch.setattr(GeoPackageDatabase, "bump", _old_gpkg_bump)


def _as_old_pg(monkeypatch) -> None:
    """Make PostGIS stores opened from now on create and write the system tables of before Alembic."""
    monkeypatch.setattr(PostGISDatabase, "migrate", _old_pg_migrate)
    monkeypatch.setattr(PostGISDatabase, "bump", _old_pg_bump)


ADDED_TABLES = (
    "planmap_auth_events",
    "planmap_idempotency",
    "planmap_login_failures",
    "planmap_record_revisions",
    "planmap_sessions",
    "planmap_tokens",
    "planmap_users",
)
"""The attribute tables the revisions after the baseline register in gpkg_contents."""
ADDED_COLUMNS = {("planmap_versions", "geometry_version")}
"""Columns the revisions after the baseline add to the old tables (left out of the shapes compared)."""

# Tokens as the previous ``layers.tokens`` kept them: one JSON list in the metadata.
OLD_TOKENS = {"pm_old-admin": ("root", "admin", []), "pm_old-field": ("zhang", "field", ["430321", "430381"])}
OLD_TOKEN_LIST = [
    {
        "user": user,
        "role": role,
        "counties": counties,
        "sha256": hash_token(token),
        "created_at": "2025-03-01T08:00:00Z",
    }
    for token, (user, role, counties) in OLD_TOKENS.items()
]


def _frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["a", "b", "c"], "name": ["渠", "塘", "站"], "n": [1, 2, 3]},
        geometry=[Point(112.9, 27.8), Point(112.95, 27.85), Point(113.0, 27.9)],
        crs=4326,
    )


def _fill(store) -> dict:
    """Write what a running service holds: a layer, history, reports, metadata and tokens; return it."""
    store.write_layer("parcels", _frame())
    store.append_history(
        [HistoryEntry("parcels", f, dt.date(2025, 4, 1), "in_progress", 20.0, author="li") for f in "abc"]
    )
    store.record_progress(
        HistoryEntry("parcels", "b", dt.date(2025, 5, 2), "completed", 100.0, note="验收", data={"m": [1, 2]}),
        {"n": 20},
    )
    store.set_meta("notes:plan", {"title": "湘潭 2025", "rev": 3})
    store.set_meta("auth:tokens", OLD_TOKEN_LIST)
    return {
        "frame": store.read("parcels"),
        "history": store.history(),
        "version": store.version("parcels"),
        "feature_version": store.feature_version("parcels", "b"),
        "uid": store.get_meta("dataset_uid"),
    }


def _assert_taken_over(store, before: dict) -> None:
    assert_geodataframe_equal(store.read("parcels"), before["frame"])
    assert store.read("parcels").set_index("id").loc["b", "n"] == 20
    history = store.history()
    assert history.to_dict("records") == before["history"].to_dict("records")
    assert list(history["seq"]) == [1, 2, 3, 4] and history.iloc[-1]["note"] == "验收"
    assert store.version("parcels") == before["version"]
    assert store.feature_version("parcels", "b") == before["feature_version"]
    assert store.get_meta("dataset_uid") == before["uid"]
    assert store.get_meta("notes:plan") == {"title": "湘潭 2025", "rev": 3}
    # The tokens moved from the metadata list into their table and still authenticate.
    assert store.get_meta("auth:tokens") is None
    assert [(r.user, r.role, r.counties) for r in list_tokens(store)] == [
        ("root", "admin", ()),
        ("zhang", "field", ("430321", "430381")),
    ]
    assert authenticate(store, "pm_old-field").counties == ("430321", "430381")
    assert authenticate(store, "pm_old-admin").role == "admin"
    # Each token's user became an account without a password (token sign-in only), its role and counties kept.
    assert [(u.user, u.role, u.counties, u.password_hash, u.disabled_at) for u in store.users()] == [
        ("root", "admin", (), None, None),
        ("zhang", "field", ("430321", "430381"), None, None),
    ]
    with pytest.raises(NotAuthenticated):
        authenticate(store, "pm_never-issued")


def _gpkg_shape(path) -> dict:
    """Columns (type, pk, default, NOT NULL outside primary keys), indexes and triggers of the old tables."""
    conn = sqlite3.connect(path)
    shape = {}
    for table in ("planmap_history", "planmap_versions", "planmap_meta"):
        columns = [
            (name, kind, bool(pk), default, bool(notnull) if not pk else None)
            for _, name, kind, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})")
            if (table, name) not in ADDED_COLUMNS
        ]
        indexes = sorted((r[1], r[2]) for r in conn.execute(f"PRAGMA index_list({table})") if r[3] == "c")
        triggers = sorted(
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", [table])
        )
        shape[table] = (columns, indexes, triggers)
    shape["contents"] = sorted(
        conn.execute("SELECT table_name, data_type FROM gpkg_contents WHERE table_name LIKE 'planmap%'")
    )
    conn.close()
    return shape


def _pg_shape(schema: str) -> dict:
    """Columns with types, collations, nullability and defaults; index and trigger definitions."""
    with psycopg.connect(PG_URL) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, collation_name, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = %s AND table_name IN "
            "('planmap_history', 'planmap_versions', 'planmap_meta') ORDER BY table_name, ordinal_position",
            [schema],
        ).fetchall()
        columns = [c for c in columns if (c[0], c[1]) not in ADDED_COLUMNS]
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename LIKE 'planmap_%%' "
            "AND tablename IN ('planmap_history', 'planmap_versions', 'planmap_meta') ORDER BY 1",
            [schema],
        ).fetchall()
        triggers = conn.execute(
            "SELECT tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT t.tgisinternal "
            "AND c.relname IN ('planmap_history', 'planmap_versions', 'planmap_meta') ORDER BY 1",
            [schema],
        ).fetchall()
    text = repr((columns, indexes, triggers))
    return {"shape": text.replace(schema, "<schema>")}


def _version_num(conn: sqlite3.Connection | psycopg.Connection, table: str) -> list:
    return [r[0] for r in conn.execute(f"SELECT version_num FROM {table}").fetchall()]


def test_head_is_the_geometry_version_revision():
    assert head() == "0006"


def test_old_geopackage_is_upgraded_in_place(tmp_path, monkeypatch):
    path = tmp_path / "old.gpkg"
    _as_old_gpkg(monkeypatch)
    with GeoPackageStore(path) as old:
        before = _fill(old)
    old_shape = _gpkg_shape(path)
    monkeypatch.undo()

    with GeoPackageStore(path) as store:
        _assert_taken_over(store, before)
        store.append_history([HistoryEntry("parcels", "c", dt.date(2025, 6, 1), "completed", 100.0)])
        assert store.history()["seq"].iloc[-1] == 5
    shape = _gpkg_shape(path)
    added = [(t, "attributes") for t in ADDED_TABLES]
    assert shape == {**old_shape, "contents": sorted([*old_shape["contents"], *added])}
    conn = sqlite3.connect(path)
    assert _version_num(conn, VERSION_TABLE) == [head()]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM planmap_history")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_current_geopackage_is_opened_without_writing(tmp_path):
    path = tmp_path / "t.gpkg"
    GeoPackageStore(path).close()
    probe = sqlite3.connect(path)
    changes = probe.execute("PRAGMA data_version").fetchone()[0]
    with GeoPackageStore(path) as store:
        assert store.get_meta("dataset_uid")
    assert probe.execute("PRAGMA data_version").fetchone()[0] == changes  # no other connection committed


def test_new_geopackage_has_the_tables_the_old_code_made(tmp_path, monkeypatch):
    _as_old_gpkg(monkeypatch)
    GeoPackageStore(tmp_path / "old.gpkg").close()
    monkeypatch.undo()
    GeoPackageStore(tmp_path / "new.gpkg").close()
    old, new = _gpkg_shape(tmp_path / "old.gpkg"), _gpkg_shape(tmp_path / "new.gpkg")
    assert new["planmap_history"] == old["planmap_history"]
    assert new["planmap_history"][0][3] == ("date", "TEXT", False, None, True)
    added = [(t, "attributes") for t in ADDED_TABLES]
    assert new == {**old, "contents": sorted([*old["contents"], *added])}


def test_geopackage_reset_rebuilds_every_table(tmp_path):
    with GeoPackageStore(tmp_path / "t.gpkg") as store:
        store.write_layer("parcels", _frame())
        store.append_history([HistoryEntry("parcels", "a", dt.date(2025, 4, 1), "in_progress", 20.0)])
        create_token(store, "li", "planner")
        store.note_failures(["addr:10.0.0.1"], 1.0, 60.0)
        uid = store.get_meta("dataset_uid")
        store.reset(confirm=True)
        assert store.history().empty and store.layers() == [] and list_tokens(store) == []
        assert store.users() == [] and store.failures(["addr:10.0.0.1"]) == {} and store.auth_events() == []
        assert store.get_meta("dataset_uid") not in (None, uid)
        create_token(store, "li", "planner")
        assert [r.user for r in list_tokens(store)] == ["li"]
        store.append_history([HistoryEntry("parcels", "a", dt.date(2025, 5, 1), "completed", 100.0)])
        assert list(store.history()["seq"]) == [1]  # a new table; the new dataset uid keeps versions unique
        conn = sqlite3.connect(store.path)
        assert _version_num(conn, VERSION_TABLE) == [head()]
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE planmap_history SET status = 'x'")


def test_tokens_revision_downgrades_back_to_the_metadata_list(tmp_path, monkeypatch):
    path = tmp_path / "old.gpkg"
    _as_old_gpkg(monkeypatch)
    with GeoPackageStore(path) as old:
        old.set_meta("auth:tokens", OLD_TOKEN_LIST)
    monkeypatch.undo()
    GeoPackageStore(path).close()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection, None), "0001")
    with sqlite3.connect(path) as conn:
        assert json.loads(conn.execute("SELECT value FROM planmap_meta WHERE key = 'auth:tokens'").fetchone()[0]) == (
            OLD_TOKEN_LIST
        )
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'planmap_tokens'").fetchone() == (0,)
        assert _version_num(conn, VERSION_TABLE) == ["0001"]
    engine.dispose()
    with GeoPackageStore(path) as store:
        assert authenticate(store, "pm_old-admin").user == "root" and store.get_meta("auth:tokens") is None


def test_geopackage_matches_the_table_definitions(tmp_path):
    path = tmp_path / "t.gpkg"
    GeoPackageStore(path).close()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "version_table": VERSION_TABLE,
                # GDAL owns the gpkg_* tables and makes planmap_meta as a GeoPackage attributes table.
                "include_name": lambda name, kind, parent: kind != "table" or name in metadata.tables,
                "include_object": lambda obj, name, kind, reflected, compare_to: (
                    (name if kind == "table" else obj.table.name) != "planmap_meta"
                ),
            },
        )
        assert compare_metadata(context, metadata) == []
    engine.dispose()


@pytest.fixture
def pg_schema(require):
    require(postgis_available(), "PostGIS")
    name = f"planmap_m_{uuid.uuid4().hex[:12]}"
    yield name
    _drop_schema(name)


def _pg(schema: str) -> PostGISStore:
    return PostGISStore(PG_URL, schema=schema, pool_size=2)


@pytest.mark.postgis
def test_old_postgis_schema_is_upgraded_in_place(pg_schema, monkeypatch):
    _as_old_pg(monkeypatch)
    with _pg(pg_schema) as old:
        before = _fill(old)
    old_shape = _pg_shape(pg_schema)
    monkeypatch.undo()

    with _pg(pg_schema) as store:
        _assert_taken_over(store, before)
        store.append_history([HistoryEntry("parcels", "c", dt.date(2025, 6, 1), "completed", 100.0)])
        assert store.history()["seq"].iloc[-1] == 5
    assert _pg_shape(pg_schema) == old_shape
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        assert _version_num(conn, f"{pg_schema}.{VERSION_TABLE}") == [head()]
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute(f"TRUNCATE {pg_schema}.planmap_history")


@pytest.mark.postgis
def test_new_postgis_schema_has_the_tables_the_old_code_made(pg_schema, monkeypatch):
    old_schema = pg_schema + "_old"
    _as_old_pg(monkeypatch)
    try:
        _pg(old_schema).close()
        monkeypatch.undo()
        _pg(pg_schema).close()
        assert _pg_shape(pg_schema) == _pg_shape(old_schema)
        assert "'date', 'date', None, 'NO'" in _pg_shape(pg_schema)["shape"]
    finally:
        _drop_schema(old_schema)


@pytest.mark.postgis
def test_postgis_schema_matches_the_table_definitions(pg_schema):
    _pg(pg_schema).close()
    engine = sa.create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(PG_URL, options=f"-csearch_path={pg_schema}")
    )
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []
    engine.dispose()


@pytest.mark.postgis
def test_postgis_reset_and_reopen_keep_one_revision(pg_schema):
    with _pg(pg_schema) as store:
        store.write_layer("parcels", _frame())
        create_token(store, "li", "planner")
        store.reset(confirm=True)
        assert list_tokens(store) == [] and store.layers() == [] and store.users() == []
        create_token(store, "li", "planner")
        assert [u.user for u in store.users()] == ["li"]
    with _pg(pg_schema) as store, psycopg.connect(PG_URL) as conn:
        assert _version_num(conn, f"{pg_schema}.{VERSION_TABLE}") == [head()]
        assert store.get_meta("dataset_uid")


def _open_and_authenticate(path) -> tuple[str, str]:
    with GeoPackageStore(path) as store:
        return str(store.get_meta("dataset_uid")), authenticate(store, "pm_old-admin").user


def test_processes_opening_an_old_geopackage_at_once_upgrade_it_once(tmp_path, monkeypatch):
    import multiprocessing

    path = tmp_path / "old.gpkg"
    _as_old_gpkg(monkeypatch)
    with GeoPackageStore(path) as old:
        old.set_meta("auth:tokens", OLD_TOKEN_LIST)
        uid = old.get_meta("dataset_uid")
    monkeypatch.undo()
    with multiprocessing.get_context("fork").Pool(6) as pool:
        opened = pool.map(_open_and_authenticate, [path] * 6, chunksize=1)
    assert opened == [(uid, "root")] * 6
    with GeoPackageStore(path) as store:
        assert len(store.tokens(include_revoked=True)) == len(OLD_TOKEN_LIST)
    assert _version_num(sqlite3.connect(path), VERSION_TABLE) == [head()]


def test_the_geometry_version_is_added_to_old_geopackages_counting_from_zero(tmp_path, monkeypatch):
    path = tmp_path / "old.gpkg"
    _as_old_gpkg(monkeypatch)
    with GeoPackageStore(path) as old:
        _fill(old)
    monkeypatch.undo()
    with GeoPackageStore(path) as store:
        assert store.geometry_version("parcels").endswith(".g0")
        version = store.version("parcels")
        store.append_history([HistoryEntry("parcels", "c", dt.date(2025, 6, 1), "completed", 100.0)])
        assert store.geometry_version("parcels").endswith(".g0") and store.version("parcels") != version
        store.write_layer("parcels", _frame())
        assert store.geometry_version("parcels").endswith(".g1")
    conn = sqlite3.connect(path)
    assert ("geometry_version", "INTEGER", 1, "'0'") in [
        r[1:5] for r in conn.execute("PRAGMA table_info(planmap_versions)")
    ]


@pytest.mark.postgis
def test_the_geometry_version_is_added_to_old_postgis_schemas(pg_schema, monkeypatch):
    _as_old_pg(monkeypatch)
    with _pg(pg_schema) as old:
        _fill(old)
    monkeypatch.undo()
    with _pg(pg_schema) as store:
        store.append_history([HistoryEntry("parcels", "c", dt.date(2025, 6, 1), "completed", 100.0)])
        store.write_layer("parcels", _frame())
    with psycopg.connect(PG_URL) as conn:
        row = conn.execute(
            f"SELECT version, geometry_version FROM {pg_schema}.planmap_versions WHERE layer = 'parcels'"
        )
        version, geometry = row.fetchone()
    assert geometry == 1 and version > 2


def test_a_geopackage_from_a_newer_planmap_is_refused_with_a_message(tmp_path):
    path = tmp_path / "newer.gpkg"
    GeoPackageStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '0099'")
    before = path.read_bytes()
    with pytest.raises(StoreUnavailable, match=r"newer.gpkg: .*revision 0099.*newer planmap"):
        GeoPackageStore(path)
    assert path.read_bytes() == before


@pytest.mark.postgis
def test_a_postgis_schema_from_a_newer_planmap_is_refused_with_a_message(pg_schema):
    _pg(pg_schema).close()
    with psycopg.connect(PG_URL) as conn:
        conn.execute(f"UPDATE {pg_schema}.{VERSION_TABLE} SET version_num = '0099'")
    with pytest.raises(StoreUnavailable, match=rf"{pg_schema}.*revision 0099.*newer planmap"):
        _pg(pg_schema)
