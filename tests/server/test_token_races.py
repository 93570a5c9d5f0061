"""``planmap token create`` and ``revoke`` run by many processes at once lose nothing and resurrect nothing.

Each token is one row written in one transaction, so the outcome is exactly the set the commands asked for
(the former JSON list in the metadata kept 6 of 10 concurrent creates and brought revoked tokens back).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import random
import uuid
from contextlib import redirect_stderr, redirect_stdout

import pytest

from geo.storage import open_store
from geo.storage.gpkg import GeoPackageStore
from geo.storage.schema import head
from layers.errors import NotAuthenticated
from layers.tokens import authenticate, create_token, list_tokens
from server.cli import main
from tests.conftest import PG_URL, _drop_schema, postgis_available

NEW = [f"new{i:02d}" for i in range(50)]
OLD = [f"old{i}" for i in range(10)]
TWICE = [f"twice{i}" for i in range(5)]
_STORE_VARIABLES = ("PLANMAP_DATABASE_URL", "PLANMAP_DATABASE_SCHEMA", "PLANMAP_GPKG_PATH")


def _run(task: tuple[dict[str, str], list[str]]) -> tuple[list[str], int, str]:
    """Run one ``planmap`` command in this worker process; return its arguments, exit code and output."""
    env, argv = task
    for name in _STORE_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(env)  # a forked worker's own environment
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        code = main(argv)
    return argv, code, out.getvalue().strip()


def _race(env: dict[str, str], url: str, schema: str) -> None:
    with open_store(url, schema=schema, pool_size=1) as store:
        old = {user: create_token(store, user, "planner") for user in OLD}
    tasks = [["token", "create", "--user", u, "--role", "viewer"] for u in [*NEW, *TWICE, *TWICE]]
    tasks += [["token", "revoke", u] for u in OLD]
    random.Random(7).shuffle(tasks)
    with multiprocessing.get_context("fork").Pool(10) as pool:
        results = pool.map(_run, [(env, argv) for argv in tasks], chunksize=1)

    assert [(argv, code) for argv, code, _ in results if code != 0] == []
    issued: dict[str, list[str]] = {}
    for argv, _, out in results:
        if argv[1] == "create":
            assert out.startswith("pm_")
            issued.setdefault(argv[3], []).append(out)
    with open_store(url, schema=schema, pool_size=1) as store:
        assert [r.user for r in list_tokens(store)] == sorted([*NEW, *TWICE])
        for user in NEW:
            assert authenticate(store, issued[user][0]).user == user
        for token in old.values():
            with pytest.raises(NotAuthenticated):
                authenticate(store, token)
        for user in TWICE:
            valid = []
            for token in issued[user]:
                try:
                    valid.append(authenticate(store, token).user)
                except NotAuthenticated:
                    pass
            assert valid == [user], f"{user}: exactly one of its two tokens stays valid"
        every = store.tokens(include_revoked=True)
        assert len(every) == len(OLD) + len(NEW) + 2 * len(TWICE)
        assert sorted(t.user for t in every if t.revoked_at is not None) == sorted([*OLD, *TWICE])


def test_concurrent_token_commands_on_a_geopackage(tmp_path):
    path = tmp_path / "planmap.gpkg"
    GeoPackageStore(path).close()
    _race({"PLANMAP_GPKG_PATH": str(path), "PLANMAP_DATA_DIR": str(tmp_path)}, str(path), "planmap")


@pytest.mark.postgis
def test_concurrent_token_commands_on_postgis(tmp_path, require):
    require(postgis_available(), "PostGIS")
    schema = f"planmap_r_{uuid.uuid4().hex[:12]}"
    env = {"PLANMAP_DATABASE_URL": PG_URL, "PLANMAP_DATABASE_SCHEMA": schema, "PLANMAP_DATA_DIR": str(tmp_path)}
    try:
        _race(env, PG_URL, schema)
    finally:
        _drop_schema(schema)


def _open_new_schema(task: tuple[str, str]) -> str:
    url, schema = task
    with open_store(url, schema=schema, pool_size=1) as store:
        return str(store.get_meta("dataset_uid"))


@pytest.mark.postgis
def test_processes_opening_a_new_schema_at_once_migrate_it_once(require):
    require(postgis_available(), "PostGIS")
    import psycopg

    schema = f"planmap_o_{uuid.uuid4().hex[:12]}"
    try:
        with multiprocessing.get_context("fork").Pool(6) as pool:
            uids = pool.map(_open_new_schema, [(PG_URL, schema)] * 6, chunksize=1)
        assert len(set(uids)) == 1 and len(uids[0]) == 12
        with psycopg.connect(PG_URL) as conn:
            assert conn.execute(f"SELECT version_num FROM {schema}.planmap_alembic_version").fetchall() == [(head(),)]
    finally:
        _drop_schema(schema)
