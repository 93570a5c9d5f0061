"""Replacing a whole PostGIS dataset on a live service: build in a staging schema, swap it in at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pandas as pd
import psycopg
import pytest

import geopandas as gpd
from shapely.geometry import Point

from geo.errors import StoreUnavailable
from geo.storage import HistoryEntry
from tests.conftest import PG_URL, _drop_schema, postgis_available

pytestmark = pytest.mark.postgis


def _things(n: int, status: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [f"t{i:03d}" for i in range(n)], "status": [status] * n},
        geometry=[Point(112.9 + i * 1e-3, 27.8) for i in range(n)],
        crs="EPSG:4326",
    )


def _schemas(prefix: str) -> list[str]:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [prefix + "%"]).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def live(require) -> Iterator:
    """A schema holding 6 planned things with history, and a second store on it (another worker)."""
    require(postgis_available(), "PostGIS")
    from geo.storage.postgis import PostGISStore

    schema = "planmap_t_rebuild_" + uuid.uuid4().hex[:8]
    admin = PostGISStore(PG_URL, schema=schema, pool_size=2)
    admin.write_layer("things", _things(6, "planned"))
    admin.append_history([HistoryEntry("things", "t000", pd.Timestamp("2025-03-01").date(), "planned")])
    worker = PostGISStore(PG_URL, schema=schema, pool_size=2)
    try:
        yield admin, worker
    finally:
        admin.close()
        worker.close()
        _drop_schema(schema)


def test_rebuild_swaps_the_whole_dataset_in_at_once(live):
    admin, worker = live
    before, feature_before = worker.version("things"), worker.feature_version("things", "t000")
    seen: set[tuple[int, str]] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:  # another worker answering requests all along
        while not stop.is_set():
            try:
                frame = worker.read("things")
                seen.add((len(frame), frame["status"].iloc[0]))
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with admin.rebuilding() as stage:
            stage.write_layer("things", _things(9, "completed"))
            stage.write_layer("extra", _things(2, "planned"))
            stage.append_history([HistoryEntry("things", "t008", pd.Timestamp("2025-06-30").date(), "completed")])
            # Until the block ends, the live schema answers with the old data and versions.
            assert worker.count("things") == 6 and worker.layers() == ["things"]
            assert worker.version("things") == before
    finally:
        stop.set()
        reader.join()
    assert not errors
    assert seen <= {(6, "planned"), (9, "completed")} and (6, "planned") in seen
    assert worker.count("things") == 9 and worker.layers() == ["extra", "things"]
    assert set(worker.read("things")["status"]) == {"completed"}
    assert list(worker.history()["feature_id"]) == ["t008"]
    # A new dataset uid: no version of the old data can be served from a cache keyed by it.
    assert worker.version("things") != before and worker.feature_version("things", "t000") != feature_before
    assert worker.version("things").split(".")[0] != before.split(".")[0]
    assert not _schemas("planmap_rebuild_") and not _schemas("planmap_old_")
    with psycopg.connect(PG_URL, autocommit=True) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute(f'DELETE FROM "{admin.schema}".planmap_history')  # still append-only after the swap


def test_a_failed_rebuild_leaves_the_live_schema_as_it_was(live):
    admin, worker = live
    before = worker.version("things")
    with pytest.raises(RuntimeError, match="broke"), admin.rebuilding() as stage:
        stage.write_layer("things", _things(9, "completed"))
        raise RuntimeError("the build broke")
    assert worker.count("things") == 6 and worker.version("things") == before
    assert len(worker.history()) == 1 and not _schemas("planmap_rebuild_")


def test_one_rebuild_of_a_schema_at_a_time(live):
    admin, worker = live
    with admin.rebuilding() as stage:
        stage.write_layer("things", _things(3, "completed"))
        with pytest.raises(StoreUnavailable, match="another rebuild"), worker.rebuilding():
            pass
    assert admin.count("things") == 3
