"""Shared test configuration.

Tests that need PostGIS or a browser skip on a laptop without them, but in CI (``CI`` set) a missing
resource is a failure: ``require_or_skip`` turns the skip into ``pytest.fail``.

``store_url`` runs every test that uses it (``client``, ``demo_store``, ``writable_client``,
``writable_store``) once on the demo GeoPackage and once on a PostGIS schema loaded from it
(PLANMAP_TEST_DATABASE_URL, default the local ``planmap_test`` database).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_URL = os.environ.get("PLANMAP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/planmap_test")
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_or_skip(available: bool, what: str) -> None:
    """Skip the calling test when ``what`` is unavailable, except in CI, where that fails the test."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but not available")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def require():
    """Return ``require_or_skip`` for tests that need an optional resource (PostGIS, a browser)."""
    return require_or_skip


@pytest.fixture(scope="session")
def registry():
    """The plan catalogue."""
    from layers.registry import load_catalogue

    return load_catalogue()


@pytest.fixture(scope="session")
def demo_gpkg(tmp_path_factory, registry):
    """A demo GeoPackage built once per test session. Treat it as read-only: use ``writable_gpkg`` to write."""
    from geo.storage.gpkg import GeoPackageStore
    from layers.demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "planmap.gpkg"
    with GeoPackageStore(path) as store:
        build_demo(store, registry, seed=2025)
    return path


@pytest.fixture
def writable_gpkg(demo_gpkg, tmp_path):
    """A private copy of the demo GeoPackage that a test may change (GeoPackage-specific tests)."""
    import shutil

    target = tmp_path / "planmap.gpkg"
    shutil.copyfile(demo_gpkg, target)
    return target


@dataclass(frozen=True)
class StoreTarget:
    """Where a test's store lives: a GeoPackage path, or a PostGIS URL and schema."""

    kind: str
    url: str
    data_dir: Path
    schema: str = "planmap"

    def open(self):
        """Open the store (use it as a context manager)."""
        from geo.storage import open_store

        return open_store(self.url, schema=self.schema, pool_size=2)

    def settings(self, **api):
        """Return app settings serving this store (built explicitly, no environment)."""
        from server.settings import ApiSettings, Settings, StoreSettings

        if self.kind == "gpkg":
            store = StoreSettings(gpkg_path=Path(self.url), data_dir=self.data_dir)
        else:
            store = StoreSettings(
                database_url=self.url, database_schema=self.schema, database_pool_size=4, data_dir=self.data_dir
            )
        return Settings(store=store, api=ApiSettings(**api))

    def __str__(self) -> str:
        return self.url if self.kind == "gpkg" else f"{self.url} (schema {self.schema})"


def postgis_available() -> bool:
    """Return whether the test database answers and offers PostGIS."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone()
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False
    return found is not None


def _drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _copy_into_schema(source, data_dir: Path) -> StoreTarget:
    """Copy an open store into a fresh PostGIS schema with ``planmap db load``'s code."""
    from geo.storage.transfer import copy_store

    target = StoreTarget("postgis", PG_URL, data_dir, f"planmap_t_{uuid.uuid4().hex[:12]}")
    with target.open() as store:
        copy_store(source, store)
    return target


@pytest.fixture(scope="session")
def postgis_demo(demo_gpkg, require):
    """The demo data in a fresh PostGIS schema for this session (dropped afterwards); read-only."""
    require(postgis_available(), "PostGIS")
    from geo.storage import GeoPackageStore

    with GeoPackageStore(demo_gpkg) as source:
        target = _copy_into_schema(source, demo_gpkg.parent)
    yield target
    _drop_schema(target.schema)


@pytest.fixture(scope="session", params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def store_url(request, demo_gpkg) -> StoreTarget:
    """The read-only demo data in each store: the GeoPackage, then a PostGIS schema loaded from it."""
    if request.param == "gpkg":
        return StoreTarget("gpkg", str(demo_gpkg), demo_gpkg.parent)
    return request.getfixturevalue("postgis_demo")


@pytest.fixture(scope="session")
def demo_store(store_url):
    """The read-only demo store (GeoPackage or PostGIS), opened once per session."""
    with store_url.open() as store:
        yield store


@pytest.fixture
def writable_store_url(request, store_url) -> Iterator[StoreTarget]:
    """A private, writable copy of the demo data in the same kind of store as ``store_url``.

    For the GeoPackage it is ``writable_gpkg`` itself, so a test may use both.
    """
    if store_url.kind == "gpkg":
        path = request.getfixturevalue("writable_gpkg")
        yield StoreTarget("gpkg", str(path), path.parent)
        return
    with store_url.open() as source:
        copy = _copy_into_schema(source, store_url.data_dir)
    yield copy
    _drop_schema(copy.schema)


@pytest.fixture
def writable_store(writable_store_url):
    """The private, writable demo store that ``writable_client`` serves."""
    with writable_store_url.open() as store:
        yield store


def make_app(target, **api):
    """Return a planmap app serving ``target``: a GeoPackage path or a ``StoreTarget``."""
    from server.main import create_app

    if not isinstance(target, StoreTarget):
        target = StoreTarget("gpkg", str(target), Path(target).parent)
    return create_app(target.settings(**api))


@pytest.fixture(scope="session")
def client(store_url):
    """An HTTP client on the app serving the read-only demo data, once per store kind."""
    from fastapi.testclient import TestClient

    with TestClient(make_app(store_url)) as test_client:
        yield test_client


@pytest.fixture
def writable_client(writable_store_url):
    """An HTTP client on an app serving a private, writable copy of the demo data (same store kind)."""
    from fastapi.testclient import TestClient

    with TestClient(make_app(writable_store_url)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def app_factory():
    """Return ``make_app(gpkg_path_or_store_target, **api_settings)`` for tests that need their own app."""
    return make_app


@contextmanager
def _serve(app, timeout: float = 30.0, **config):
    """Serve ``app`` with a real uvicorn server on a free 127.0.0.1 port in a thread; yield its base URL.

    ``config`` is passed on to ``uvicorn.Config`` (e.g. ``planmap serve``'s ``server_options``).
    """
    import httpx
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail(f"uvicorn did not start within {timeout:.0f} s")
            time.sleep(0.05)
        assert httpx.get(f"{base}/healthz", timeout=5).status_code in (200, 503)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def serve():
    """Return ``serve(app)``: a context manager running ``app`` under uvicorn on 127.0.0.1, yielding its URL."""
    return _serve


@dataclass
class Listener:
    """A TCP listener on 127.0.0.1 that accepts connections, records them and never answers (a hanging target)."""

    port: int
    connections: list[bytes]

    @property
    def url(self) -> str:
        """Return an http URL on the listener."""
        return f"http://127.0.0.1:{self.port}/crs.wkt"


@pytest.fixture
def listener() -> Iterator[Listener]:
    """Yield a ``Listener``; tests assert that nothing connected to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    found = Listener(server.getsockname()[1], [])
    held = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.settimeout(0.5)
            try:
                found.connections.append(conn.recv(1024) or b"(connected)")
            except OSError:
                found.connections.append(b"(connected)")
            held.append(conn)  # never answered: a fetching client waits for its own timeout

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.close()
        for conn in held:
            conn.close()


REPLICA_URL = os.environ.get("PLANMAP_TEST_REPLICA_URL", "postgresql://postgres@127.0.0.1:5433/planmap_test")
REPLICA_CLUSTER = os.environ.get("PLANMAP_TEST_REPLICA_CLUSTER", "15/replica")


def replica_available() -> bool:
    """Return whether PLANMAP_TEST_REPLICA_URL answers as a hot standby (``.ci/replica.sh`` starts one)."""
    try:
        import psycopg

        with psycopg.connect(REPLICA_URL, connect_timeout=3, autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False
    return bool(row and row[0])


@dataclass(frozen=True)
class Replica:
    """The test cluster's streaming replica: its URL, and ways to hold back or stop it within a test."""

    url: str
    cluster: str

    def _sql(self, url: str, sql: str):
        import psycopg

        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            return conn.execute(sql).fetchone()[0]

    def caught_up(self, timeout: float = 30.0) -> None:
        """Wait until the replica has replayed everything the primary has written so far."""
        import psycopg

        target = self._sql(PG_URL, "SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._sql(self.url, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
                    return
            except psycopg.OperationalError:
                pass  # still starting
            if time.monotonic() > deadline:
                pytest.fail(f"the replica did not replay up to {target} within {timeout:.0f} s")
            time.sleep(0.02)

    @contextmanager
    def _alone(self):
        """Hold the replica for this block across the test processes (xdist workers share the one replica:
        another test resuming replay inside this one's pause would let the replica catch up)."""
        import fcntl
        import tempfile

        with open(Path(tempfile.gettempdir()) / "planmap-test-replica.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def paused(self):
        """Pause the replica's WAL replay (it lags behind every write) for the block; resume it after."""
        with self._alone():
            self.caught_up()
            self._sql(self.url, "SELECT pg_wal_replay_pause()::text")
            try:
                yield
            finally:
                self._sql(self.url, "SELECT pg_wal_replay_resume()::text")

    @contextmanager
    def stopped(self):
        """Stop the replica's cluster for the block; start it again after, whatever happens."""
        import subprocess

        version, name = self.cluster.split("/")
        ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", version, name]
        with self._alone():
            subprocess.run([*ctl, "stop", "-m", "fast"], check=True, capture_output=True)
            try:
                yield
            finally:
                subprocess.run([*ctl, "start"], check=True, capture_output=True)
                self.caught_up()


@pytest.fixture(scope="session")
def replica(require) -> Replica:
    """The streaming replica of the test cluster (PLANMAP_TEST_REPLICA_URL); required in CI."""
    require(postgis_available(), "PostGIS")
    require(replica_available(), f"a streaming replica at {REPLICA_URL} (.ci/replica.sh)")
    return Replica(REPLICA_URL, REPLICA_CLUSTER)
