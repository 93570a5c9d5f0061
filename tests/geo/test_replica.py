"""PostGIS reads on a real streaming replica: routing, read-your-writes, versions, a replica stopping and returning."""

from __future__ import annotations

import socket
import time
import uuid

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

import geopandas as gpd
import shapely

from geo.storage import open_store
from geo.storage.consistency import PRIMARY, read_scope
from geo.storage.postgis import PostGISStore
from geo.storage.values import Filter
from tests.conftest import PG_URL

pytestmark = pytest.mark.postgis


def sites(values: list[int]) -> gpd.GeoDataFrame:
    points = [shapely.Point(112.9 + i / 100, 27.8) for i in range(len(values))]
    return gpd.GeoDataFrame({"id": [f"S{i}" for i in range(len(values))], "n": values}, geometry=points, crs=4326)


@pytest.fixture
def store(replica):
    """A store in a fresh schema of the test database reading from the replica, with one layer ``sites``."""
    schema = f"planmap_t_{uuid.uuid4().hex[:12]}"
    opened = PostGISStore(PG_URL, schema=schema, pool_size=2, replicas=[replica.url], replica_wait_s=0.3)
    try:
        opened.write_layer("sites", sites([1, 2, 3]))
        yield opened
    finally:
        opened.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def port_of(url: str) -> int:
    return int(conninfo_to_dict(url).get("port", 5432))


def served_by(store: PostGISStore) -> tuple[bool, int]:
    """Return (in recovery, port) of the server a read would use now."""
    with store._db.read() as conn:
        return conn.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone()


def ns(store: PostGISStore) -> list[int]:
    return store.read("sites", Filter(), sortby=[]).sort_values("id")["n"].tolist()


def test_reads_go_to_the_replica_and_a_write_request_to_the_primary(store, replica):
    replica.caught_up()
    before = store.replicas()[0].reads
    assert ns(store) == [1, 2, 3] and store.count("sites") == 3
    assert store.replicas()[0].reads > before
    assert served_by(store) == (True, port_of(replica.url))
    with read_scope(primary=True) as scope:
        assert served_by(store) == (False, port_of(PG_URL))
        store.write_layer("sites", sites([4, 5]))
        assert ns(store) == [4, 5] and scope.source == PRIMARY
    assert scope.wrote is not None


def test_a_client_reads_its_own_write_while_the_replica_lags(store, replica):
    with replica.paused():
        with read_scope(primary=True) as write:
            store.write_layer("sites", sites([7, 8, 9, 10]))
        with read_scope(after=write.wrote) as own:
            assert ns(store) == [7, 8, 9, 10]
        assert own.source == PRIMARY  # the replica cannot replay the write: the primary answered
        with read_scope() as other:
            assert ns(store) == [1, 2, 3]  # another client may read the replica's older state
        assert other.source == store.replicas()[0].name
        store.write_layer("sites", sites([11]))
        assert ns(store) == [11]  # outside any request the store reads its own writes
    replica.caught_up()
    with read_scope(after=write.wrote) as own:
        assert ns(store) == [11]
    assert own.source == store.replicas()[0].name


def test_a_read_request_that_writes_reads_its_write_back(store, replica):
    with replica.paused():
        with read_scope() as scope:
            assert ns(store) == [1, 2, 3]
            store.put_record("note", "k", {"n": 1}, expected_version=None, author="test")
            assert store.record("note", "k").doc == {"n": 1}  # the replica lags: the primary answers
            assert ns(store) == [1, 2, 3]
        assert scope.wrote is not None and scope.source == PRIMARY
        with read_scope() as other:
            assert store.record("note", "k") is None
        assert other.source == store.replicas()[0].name


def test_versions_are_the_same_on_the_primary_and_the_replica(store, replica):
    store.write_layer("sites", sites([3, 2, 1]))
    replica.caught_up()
    with read_scope() as scope:
        on_replica = (store.version("sites"), store.feature_version("sites", "S1"), store.bounds("sites"))
    assert scope.source == store.replicas()[0].name
    with read_scope(primary=True):
        assert (store.version("sites"), store.feature_version("sites", "S1"), store.bounds("sites")) == on_replica
    assert on_replica[0].endswith(".2")


def test_a_stopped_replica_is_dropped_from_use_and_taken_back(store, replica):
    replica.caught_up()
    assert served_by(store)[0] is True
    with replica.stopped():
        assert ns(store) == [1, 2, 3]  # the primary answers
        assert store.replicas()[0].up is False
        assert served_by(store) == (False, port_of(PG_URL))
    deadline = time.monotonic() + 30
    while not store.replicas()[0].up:
        assert time.monotonic() < deadline, "the replica was not taken back within 30 s"
        time.sleep(0.1)
    reads = store.replicas()[0].reads
    assert ns(store) == [1, 2, 3]
    assert store.replicas()[0].reads == reads + 1
    assert served_by(store) == (True, port_of(replica.url))


def test_a_replica_unreachable_at_start_is_skipped(replica):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket is closed
    dead = f"postgresql://postgres@127.0.0.1:{port}/planmap_test"
    schema = f"planmap_t_{uuid.uuid4().hex[:12]}"
    try:
        with PostGISStore(PG_URL, schema=schema, pool_size=1, replicas=[dead, replica.url], timeout=2) as store:
            store.write_layer("sites", sites([1]))
            assert ns(store) == [1]
            assert [s.up for s in store.replicas()] == [False, True]
            assert store.replicas()[0].name == f"127.0.0.1:{port}/planmap_test"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_replicas_need_a_postgresql_store(tmp_path):
    with pytest.raises(ValueError, match="read replicas need a PostgreSQL store"):
        open_store(tmp_path / "plan.gpkg", replicas=["postgresql://127.0.0.1:5433/x"])
