"""The PostGIS store when its database restarts or goes away: pooled connections are checked before use,
and every store failure is the same 503 whether or not the request carries a token.

Each test has a database of its own (killing its connections must not touch the other tests' database),
served by a real uvicorn server over HTTP.
"""

import uuid
from pathlib import Path

import httpx
import pytest

from geo.storage.transfer import copy_store
from server.settings import ApiSettings, Settings, StoreSettings
from tests.conftest import PG_URL, postgis_available

pytestmark = [pytest.mark.postgis, pytest.mark.slow]

LAYER = "reservoirs"


def _admin():
    import psycopg

    return psycopg.connect(PG_URL, autocommit=True)


@pytest.fixture
def own_database(require, demo_gpkg, tmp_path):
    """A fresh database holding the demo data (loaded with ``db load``'s code); yields its URL and name."""
    require(postgis_available(), "PostGIS")
    from geo.storage import GeoPackageStore, open_store

    name = f"planmap_faults_{uuid.uuid4().hex[:10]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        with _admin_on(url) as conn:
            conn.execute("CREATE EXTENSION postgis")
        with GeoPackageStore(demo_gpkg) as source, open_store(url, pool_size=2) as target:
            copy_store(source, target)
            from layers.tokens import create_token

            token = create_token(target, "faults", "viewer")
        yield url, name, token
    finally:
        with _admin() as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _admin_on(url):
    import psycopg

    return psycopg.connect(url, autocommit=True)


def _kill_connections(name: str) -> int:
    """Terminate every server process on the database, as a restart does; return how many there were."""
    with _admin() as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return len(rows)


def _app(url: str, data_dir: Path):
    from server.main import create_app

    store = StoreSettings(database_url=url, database_pool_size=4, database_timeout_s=2, data_dir=data_dir)
    return create_app(Settings(store=store, api=ApiSettings()))


def test_after_a_restart_no_request_meets_a_stale_connection(own_database, serve, tmp_path):
    url, name, _ = own_database
    with serve(_app(url, tmp_path)) as base, httpx.Client(base_url=base, timeout=30) as client:
        # Fill the pool: concurrent requests open several connections.
        with httpx.Client(base_url=base, timeout=30) as other:
            for _ in range(5):
                assert client.get(f"/collections/{LAYER}/items?limit=5").status_code == 200
                assert other.get("/progress").status_code == 200
        assert _kill_connections(name) >= 1
        statuses = [client.get(f"/collections/{LAYER}/items?limit=5").status_code for _ in range(30)]
        assert statuses == [200] * 30


def test_while_the_database_is_down_every_request_is_the_same_503(own_database, serve, tmp_path):
    url, name, token = own_database
    with serve(_app(url, tmp_path)) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.get(f"/collections/{LAYER}/items?limit=1").status_code == 200
        with _admin() as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        _kill_connections(name)
        anonymous = client.get(f"/collections/{LAYER}/items?limit=1")
        with_token = client.get(f"/collections/{LAYER}/items?limit=1", headers={"Authorization": f"Bearer {token}"})
        for response in (anonymous, with_token):
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "StoreUnavailable"
            assert response.headers["retry-after"] == "5"
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["readable"] is False
        with _admin() as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        back = [client.get(f"/collections/{LAYER}/items?limit=1").status_code for _ in range(10)]
        assert back == [200] * 10
        assert client.get("/healthz").json()["status"] == "ok"
