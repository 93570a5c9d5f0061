"""The FeatureStore contract, run against GeoPackageStore and PostGISStore alike.

The PostGIS cases use PLANMAP_TEST_DATABASE_URL (default: the local ``planmap_test`` database), one fresh
schema per test, dropped afterwards. Without a reachable PostGIS they skip on a laptop and fail in CI.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import cql2
import pandas as pd
import pytest

import geopandas as gpd
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point, Polygon, box

from geo.errors import InvalidFilter, StaleVersion, UnknownCollection, UnknownFeature
from geo.storage import FeatureStore, Filter, GeoPackageStore, HistoryEntry, SortKey, open_store
from geo.storage.base import HISTORY_COLUMNS

try:
    import psycopg
    from psycopg import sql
except ImportError:  # psycopg is only needed for the PostGIS cases
    psycopg = None  # type: ignore[assignment]

PG_URL = os.environ.get("PLANMAP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/planmap_test")
IDS = ["p1", "p2", "p3", "p4", "p5", "p6"]
# An L-shaped parcel: its envelope (0, 2, 3, 5) covers the box (1, 3, 2, 4), the parcel itself does not.
L_SHAPE = Polygon([(0, 2), (3, 2), (3, 2.2), (0.2, 2.2), (0.2, 5), (0, 5)])


@pytest.fixture(scope="session")
def postgis_available() -> bool:
    if psycopg is None:
        return False
    try:
        with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone()
    except psycopg.Error:
        return False
    return found is not None


@pytest.fixture
def gpkg_store(tmp_path) -> Iterator[GeoPackageStore]:
    with GeoPackageStore(tmp_path / "plan.gpkg") as store:
        yield store


@pytest.fixture
def pg_store(postgis_available, require) -> Iterator[FeatureStore]:
    require(postgis_available, "PostGIS")
    from geo.storage.postgis import PostGISStore

    schema = f"planmap_test_{uuid.uuid4().hex[:12]}"
    store = PostGISStore(PG_URL, schema=schema, pool_size=3)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request) -> FeatureStore:
    return request.getfixturevalue("gpkg_store" if request.param == "gpkg" else "pg_store")


@pytest.fixture
def parcels() -> gpd.GeoDataFrame:
    """Six features with every column type, Chinese text and a NULL in most columns."""
    return gpd.GeoDataFrame(
        {
            "id": IDS,
            "name": ["农田一号", "Reservoir 二", "水渠-A", "物流中心", "老旧小区", "farm 100%"],
            "district": ["雨湖区", "岳塘区", "雨湖区", "湘潭县", "岳塘区", "韶山市"],
            "area_mu": [12.5, 30.0, None, 5.25, 200.0, 80.0],
            "households": [10, 20, 30, 40, 50, 60],
            "done": [True, False, True, False, False, True],
            "started": [
                dt.date(2025, 1, 15),
                dt.date(2025, 3, 1),
                dt.date(2025, 6, 30),
                None,
                dt.date(2024, 12, 31),
                dt.date(2025, 3, 1),
            ],
            "updated": pd.to_datetime(
                [
                    "2025-01-15 08:00",
                    "2025-03-01 09:30",
                    "2025-06-30 18:00",
                    "2025-02-01 00:00",
                    "2024-12-31 23:59",
                    "2025-03-02 00:00",
                ]
            ),
            "extra": [{"a": 1}, [1, 2], None, {"名": "值"}, {"nested": {"x": [1.5]}}, []],
        },
        geometry=[
            box(0, 0, 1, 1),
            box(2, 0, 3, 1),
            L_SHAPE,
            Point(1.5, 3.5),
            box(10, 10, 11, 11),
            box(0.5, 0.5, 1.5, 1.5),
        ],
        crs="EPSG:4326",
    )


@pytest.fixture
def loaded(store, parcels) -> FeatureStore:
    store.write_layer("parcels", parcels)
    return store


def ids(frame: pd.DataFrame) -> list[str]:
    return list(frame["id"])


def cql(text: str) -> dict[str, Any]:
    return cql2.parse_text(text).to_json()


def raw_execute(store: FeatureStore, statement: str) -> None:
    """Run SQL on the store's database directly, bypassing the store (``{s}`` is the schema prefix)."""
    if isinstance(store, GeoPackageStore):
        with closing(sqlite3.connect(store.path)) as conn:
            conn.execute(statement.format(s=""))
        return
    schema = sql.Identifier(store.schema).as_string(None) + "."
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(statement.format(s=schema))


# Round trip and identity between the stores


def test_round_trip_every_type(loaded):
    frame = loaded.read("parcels")
    assert list(frame.columns) == [
        "id",
        "name",
        "district",
        "area_mu",
        "households",
        "done",
        "started",
        "updated",
        "extra",
        "geometry",
    ]
    assert loaded.columns("parcels") == {
        "id": "str",
        "name": "str",
        "district": "str",
        "area_mu": "float",
        "households": "int",
        "done": "bool",
        "started": "date",
        "updated": "datetime",
        "extra": "json",
    }
    assert ids(frame) == IDS
    assert frame["name"].tolist()[:2] == ["农田一号", "Reservoir 二"]
    assert frame["area_mu"].isna().tolist() == [False, False, True, False, False, False]
    assert frame["households"].dtype == "int64" and frame["done"].dtype == bool
    assert frame["started"].tolist() == ["2025-01-15", "2025-03-01", "2025-06-30", None, "2024-12-31", "2025-03-01"]
    assert frame["updated"].iloc[0] == "2025-01-15T08:00:00"
    assert frame["extra"].tolist() == [{"a": 1}, [1, 2], None, {"名": "值"}, {"nested": {"x": [1.5]}}, []]
    assert frame.crs.equals("EPSG:4326")
    assert frame.geometry.iloc[2].equals(L_SHAPE)
    assert loaded.layers() == ["parcels"]


@pytest.mark.postgis
def test_stores_return_identical_frames(gpkg_store, pg_store, parcels):
    nullable = parcels.assign(
        households=pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
        done=pd.array([True, None] * 3, dtype="boolean"),  # an object column of bools and None breaks the GeoPackage
    )
    for store in (gpkg_store, pg_store):
        store.write_layer("parcels", parcels)
        store.write_layer("nullable", nullable)
    reads: list[Callable[[FeatureStore], gpd.GeoDataFrame]] = [
        lambda s: s.read("parcels"),
        lambda s: s.read("nullable"),
        lambda s: s.read("parcels", columns=["district", "extra"], sortby=[SortKey("district", descending=True)]),
        lambda s: s.read("parcels", Filter(bbox=(0.9, 0.9, 2.5, 3.0)), limit=2, offset=1),
        lambda s: s.read("parcels", sortby=[SortKey("area_mu")]),
        lambda s: s.get("parcels", "p4"),
    ]
    for read in reads:
        assert_geodataframe_equal(read(gpkg_store), read(pg_store))
    for store in (gpkg_store, pg_store):
        store.append_history([HistoryEntry("parcels", "p1", dt.date(2025, 1, 1), "开工", 5.0, data={"月": [1, 2]})])
    gpkg_history, pg_history = gpkg_store.history(), pg_store.history()
    pd.testing.assert_frame_equal(gpkg_history.drop(columns="recorded_at"), pg_history.drop(columns="recorded_at"))
    assert gpkg_store.bounds("parcels") == pytest.approx(pg_store.bounds("parcels"), abs=1e-4)


# Spatial and attribute selection


def test_bbox_is_exact_not_envelope(loaded):
    # p3's envelope overlaps the box but its geometry does not; p4 (a point) lies inside it.
    assert ids(loaded.read("parcels", Filter(bbox=(1, 3, 2, 4)))) == ["p4"]
    assert loaded.count("parcels", Filter(bbox=(1, 3, 2, 4))) == 1
    assert ids(loaded.read("parcels", Filter(bbox=(0.9, 0.9, 2.1, 2.1)))) == ["p1", "p2", "p3", "p6"]
    assert ids(loaded.read("parcels", Filter(bbox=(20, 20, 21, 21)))) == []


def test_intersects_polygon(loaded):
    triangle = Polygon([(0.1, 4), (3, 4), (3, 4.5)])  # touches only the L's vertical arm
    assert ids(loaded.read("parcels", Filter(intersects=triangle))) == ["p3"]
    assert ids(loaded.read("parcels", Filter(intersects=Point(0.75, 0.75).buffer(0.1)))) == ["p1", "p6"]


def test_equals_in_null_and_ids(loaded):
    assert ids(loaded.read("parcels", Filter(equals={"district": "雨湖区"}))) == ["p1", "p3"]
    assert ids(loaded.read("parcels", Filter(equals={"district": ["岳塘区", "韶山市"]}))) == ["p2", "p5", "p6"]
    assert ids(loaded.read("parcels", Filter(equals={"district": []}))) == []
    assert ids(loaded.read("parcels", Filter(equals={"area_mu": None}))) == ["p3"]
    assert ids(loaded.read("parcels", Filter(equals={"done": True, "households": 30}))) == ["p3"]
    assert ids(loaded.read("parcels", Filter(ids=["p5", "p2", "nope"]))) == ["p2", "p5"]
    combined = Filter(bbox=(0, 0, 3, 1), equals={"done": False}, cql=cql("households >= 20"))
    assert ids(loaded.read("parcels", combined)) == ["p2"]


def test_sortby_with_paging_is_stable(loaded):
    by_district = [SortKey("district")]
    full = ids(loaded.read("parcels", sortby=by_district))
    pages = [ids(loaded.read("parcels", sortby=by_district, limit=2, offset=o)) for o in (0, 2, 4, 6)]
    assert sum(pages, []) == full and pages[-1] == []
    assert full == ["p2", "p5", "p4", "p1", "p3", "p6"]  # byte order of the UTF-8 names, ties by id
    # NULLs first ascending and last descending, as SQLite orders them.
    assert ids(loaded.read("parcels", sortby=[SortKey("area_mu")])) == ["p3", "p4", "p1", "p2", "p6", "p5"]
    descending = [SortKey("area_mu", descending=True)]
    assert ids(loaded.read("parcels", sortby=descending)) == ["p5", "p6", "p2", "p1", "p4", "p3"]
    assert ids(loaded.read("parcels", sortby=[SortKey("done"), SortKey("started", True)], limit=3)) == [
        "p2",
        "p5",
        "p4",
    ]
    assert ids(loaded.read("parcels", offset=5)) == ["p6"]


@pytest.mark.parametrize(
    ("where", "limit", "offset", "sortby"),
    [
        (None, 2, 0, ()),  # a full page: only a count tells the total
        (None, 4, 4, ()),  # the last, short page
        (None, 10, 0, (SortKey("area_mu", descending=True),)),  # everything on one page
        (None, 2, 6, ()),  # past the end: empty page, total still counted
        (Filter(bbox=(0.9, 0.9, 2.1, 2.1)), 3, 0, (SortKey("district"),)),
        (Filter(bbox=(0.9, 0.9, 2.1, 2.1)), 3, 3, ()),
        (Filter(equals={"done": True}, cql={"op": ">", "args": [{"property": "households"}, 15]}), 1, 1, ()),
        (Filter(bbox=(20, 20, 21, 21)), 5, 0, ()),
    ],
)
def test_read_page_is_read_plus_count(loaded, where, limit, offset, sortby):
    frame, matched = loaded.read_page("parcels", where, limit=limit, offset=offset, sortby=sortby)
    expected = loaded.read("parcels", where, limit=limit, offset=offset, sortby=sortby)
    assert_geodataframe_equal(frame, expected)
    assert matched == loaded.count("parcels", where)
    columns, _ = loaded.read_page("parcels", where, limit=limit, offset=offset, columns=["name"])
    assert list(columns.columns) == ["id", "name", "geometry"] and ids(columns) == ids(
        loaded.read("parcels", where, limit=limit, offset=offset)
    )


def test_count_and_bounds(loaded):
    assert loaded.count("parcels") == 6
    assert loaded.count("parcels", Filter(equals={"done": True})) == 3
    assert loaded.bounds("parcels") == pytest.approx((0, 0, 11, 11), abs=1e-4)
    empty = gpd.GeoDataFrame({"id": pd.Series([], dtype=object)}, geometry=gpd.GeoSeries([]), crs="EPSG:4326")
    loaded.write_layer("empty", empty)
    assert loaded.bounds("empty") is None and loaded.count("empty") == 0


def test_get_and_unknown_feature(loaded):
    feature = loaded.get("parcels", "p4")
    assert ids(feature) == ["p4"] and feature["name"].iloc[0] == "物流中心"
    with pytest.raises(UnknownFeature):
        loaded.get("parcels", "nope")


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.read("missing"),
        lambda s: s.count("missing"),
        lambda s: s.columns("missing"),
        lambda s: s.bounds("missing"),
        lambda s: s.version("missing"),
        lambda s: s.get("missing", "p1"),
        lambda s: s.record_progress(HistoryEntry("missing", "p1", dt.date(2025, 1, 1), "x"), {}),
    ],
)
def test_unknown_collection(loaded, call):
    with pytest.raises(UnknownCollection):
        call(loaded)


# History, progress and versions


def test_history_order_and_filters(loaded):
    before = loaded.version("parcels")
    loaded.append_history(
        [
            HistoryEntry("parcels", "p1", dt.date(2025, 3, 1), "在建", 50.0, note="过半", author="张三"),
            HistoryEntry("parcels", "p2", dt.date(2025, 1, 1), "开工", 10.0, data={"a": 1}),
            HistoryEntry("parcels", "p1", dt.date(2025, 1, 1), "开工", 5.0, is_demo=True),
            HistoryEntry("roads", "r1", dt.date(2025, 2, 1), "规划"),
        ]
    )
    history = loaded.history()
    assert list(history.columns) == list(HISTORY_COLUMNS)
    assert list(zip(history["feature_id"], history["date"], strict=True)) == [
        ("p2", "2025-01-01"),
        ("p1", "2025-01-01"),
        ("r1", "2025-02-01"),
        ("p1", "2025-03-01"),
    ]
    assert history["seq"].tolist() == [2, 3, 4, 1]
    assert history["is_demo"].tolist() == [False, True, False, False]
    assert history["data"].iloc[0] == '{"a": 1}' and history["note"].iloc[3] == "过半"
    assert loaded.history(until=dt.date(2025, 2, 1))["feature_id"].tolist() == ["p2", "p1", "r1"]
    assert loaded.history("parcels", ["p1"])["status"].tolist() == ["开工", "在建"]
    assert loaded.history("parcels", []).empty
    assert loaded.version("parcels") != before
    loaded.append_history([])
    assert len(loaded.history()) == 4


def test_record_progress_sets_values_appends_and_bumps(loaded):
    version, feature_version = loaded.version("parcels"), loaded.feature_version("parcels", "p1")
    assert re.fullmatch(r"[0-9a-f]{12}\.\d+", version) and re.fullmatch(r"[0-9a-f]{12}\.f0", feature_version)
    entry = HistoryEntry("parcels", "p1", dt.date(2025, 4, 1), "在建", 40.0, note="进度", data={"月": 4})
    changes = {"done": False, "area_mu": 13.0, "started": dt.date(2025, 2, 1), "extra": {"k": "值"}, "name": "新名"}
    new_version = loaded.record_progress(entry, changes, expected_version=feature_version)
    assert new_version == loaded.version("parcels") != version
    assert loaded.feature_version("parcels", "p1") != feature_version
    row = loaded.get("parcels", "p1").iloc[0]
    assert (row["done"], row["area_mu"], row["started"], row["extra"], row["name"]) == (
        False,
        13.0,
        "2025-02-01",
        {"k": "值"},
        "新名",
    )
    history = loaded.history("parcels", ["p1"])
    assert history[["status", "percent", "note", "data"]].values.tolist() == [["在建", 40.0, "进度", '{"月": 4}']]
    assert loaded.get("parcels", "p2")["area_mu"].iloc[0] == 30.0  # other features untouched


def test_record_progress_refuses_stale_and_unknown(loaded):
    stale = loaded.feature_version("parcels", "p1")
    loaded.record_progress(HistoryEntry("parcels", "p1", dt.date(2025, 4, 1), "在建"), {"households": 11}, stale)
    version = loaded.version("parcels")
    with pytest.raises(StaleVersion):
        loaded.record_progress(HistoryEntry("parcels", "p1", dt.date(2025, 5, 1), "完工"), {"households": 12}, stale)
    with pytest.raises(UnknownFeature):
        loaded.record_progress(HistoryEntry("parcels", "nope", dt.date(2025, 5, 1), "完工"), {})
    with pytest.raises(ValueError, match="cannot set columns"):
        loaded.record_progress(HistoryEntry("parcels", "p1", dt.date(2025, 5, 1), "完工"), {"nosuch": 1})
    assert loaded.version("parcels") == version
    assert loaded.get("parcels", "p1")["households"].iloc[0] == 11
    assert loaded.history()["status"].tolist() == ["在建"]


def test_concurrent_progress_with_one_version_lets_one_win(loaded):
    expected = loaded.feature_version("parcels", "p2")
    barrier, outcomes = threading.Barrier(2), []

    def report(status: str) -> None:
        barrier.wait()
        try:
            loaded.record_progress(HistoryEntry("parcels", "p2", dt.date(2025, 5, 1), status), {}, expected)
            outcomes.append("ok")
        except StaleVersion:
            outcomes.append("stale")

    threads = [threading.Thread(target=report, args=(s,)) for s in ("甲", "乙")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "stale"]
    assert len(loaded.history("parcels", ["p2"])) == 1


@pytest.mark.parametrize(
    "statement",
    ["UPDATE {s}planmap_history SET status = 'forged'", "DELETE FROM {s}planmap_history"],
)
def test_history_is_append_only_in_the_database(loaded, statement):
    loaded.append_history([HistoryEntry("parcels", "p1", dt.date(2025, 1, 1), "开工")])
    errors = (sqlite3.DatabaseError,) if isinstance(loaded, GeoPackageStore) else (psycopg.Error,)
    with pytest.raises(errors, match="append-only"):
        raw_execute(loaded, statement)
    assert loaded.history()["status"].tolist() == ["开工"]


def test_replace_swaps_the_layer_and_bumps_the_version(loaded, parcels):
    version = loaded.version("parcels")
    smaller = parcels.iloc[:2].drop(columns=["extra"]).assign(households=[99, 98])
    loaded.write_layer("parcels", smaller)
    assert loaded.version("parcels") != version
    assert loaded.count("parcels") == 2 and "extra" not in loaded.columns("parcels")
    assert loaded.read("parcels")["households"].tolist() == [99, 98]
    with pytest.raises(ValueError):
        loaded.write_layer("parcels", smaller, mode="create")


def _break_the_swap(store: FeatureStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next write_layer fail after the old table was dropped inside its transaction."""

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    if isinstance(store, GeoPackageStore):
        monkeypatch.setattr("geo.storage.gpkg.layer._main_tables", fail)
    else:
        monkeypatch.setattr("geo.storage.postgis.native.build_overview", fail)


def test_failed_replace_leaves_the_old_layer(loaded, parcels, monkeypatch):
    version, before = loaded.version("parcels"), loaded.read("parcels")
    duplicated = parcels.assign(id=["p1", "p1", "p3", "p4", "p5", "p6"])
    with pytest.raises(ValueError, match="unique"):
        loaded.write_layer("parcels", duplicated)
    _break_the_swap(loaded, monkeypatch)
    with pytest.raises(RuntimeError, match="power cut"):
        loaded.write_layer("parcels", parcels.iloc[:1])
    monkeypatch.undo()
    assert_geodataframe_equal(loaded.read("parcels"), before)
    assert loaded.version("parcels") == version and loaded.layers() == ["parcels"]


def test_meta_round_trip(store):
    assert store.get_meta("plan") is None
    value = {"标题": "湘潭市2025年工作计划", "targets": [1, 2.5, None], "nested": {"ok": True}}
    store.set_meta("plan", value)
    assert store.get_meta("plan") == value
    store.set_meta("plan", ["replaced"])
    assert store.get_meta("plan") == ["replaced"]


# CQL2 filters: the same ids from both stores

CQL_CASES = [
    ("households = 30", ["p3"]),
    ("households <> 30", ["p1", "p2", "p4", "p5", "p6"]),
    ("area_mu < 30", ["p1", "p4"]),
    ("area_mu >= 30", ["p2", "p5", "p6"]),
    ("district = '雨湖区' and done = true", ["p1", "p3"]),
    ("district = '岳塘区' or households > 55", ["p2", "p5", "p6"]),
    ("not (district = '雨湖区')", ["p2", "p4", "p5", "p6"]),
    ("not area_mu > 20", ["p1", "p4"]),
    ("name like '%号'", ["p1"]),
    ("name like 'farm 100\\%'", ["p6"]),
    ("name like 'reservoir%'", []),
    ("casei(name) like casei('RESERVOIR%')", ["p2"]),
    ("casei(name) = casei('FARM 100%')", ["p6"]),
    ("name like '__-_'", ["p3"]),
    ("district in ('岳塘区', '韶山市')", ["p2", "p5", "p6"]),
    ("households not in (10, 20)", ["p3", "p4", "p5", "p6"]),
    ("households between 20 and 40", ["p2", "p3", "p4"]),
    ("area_mu is null", ["p3"]),
    ("started is not null", ["p1", "p2", "p3", "p5", "p6"]),
    ("s_intersects(geom, POLYGON((0.1 4, 3 4, 3 4.5, 0.1 4)))", ["p3"]),
    ("s_intersects(geometry, POINT(1.5 3.5))", ["p4"]),
    ("s_intersects(geom, BBOX(1, 3, 2, 4))", ["p4"]),
    ("s_within(geom, BBOX(-1, -1, 3.5, 1.5))", ["p1", "p2", "p6"]),
    ("s_contains(geom, POINT(0.75 0.75))", ["p1", "p6"]),
    ("s_disjoint(geom, BBOX(-1, -1, 3.5, 1.5))", ["p3", "p4", "p5"]),
    ("not s_intersects(geom, BBOX(-1, -1, 3.5, 1.5))", ["p3", "p4", "p5"]),
    ("t_after(started, DATE('2025-03-01'))", ["p3"]),
    ("t_before(started, DATE('2025-03-01'))", ["p1", "p5"]),
    ("t_during(started, INTERVAL('2025-01-01', '2025-06-30'))", ["p1", "p2", "p6"]),
    ("t_intersects(started, INTERVAL('2025-03-01', '..'))", ["p2", "p3", "p6"]),
    ("t_equals(started, DATE('2025-03-01'))", ["p2", "p6"]),
    ("not t_before(started, DATE('2025-03-01'))", ["p2", "p3", "p6"]),
    ("started > DATE('2025-01-31')", ["p2", "p3", "p6"]),
    ("t_after(updated, TIMESTAMP('2025-03-01T09:30:00Z'))", ["p3", "p6"]),
    ("t_during(updated, DATE('2025-03-01'))", ["p2"]),
]


@pytest.mark.parametrize(("text", "expected"), CQL_CASES, ids=[c[0] for c in CQL_CASES])
def test_cql2_filters(loaded, text, expected):
    assert ids(loaded.read("parcels", Filter(cql=cql(text)))) == expected
    assert loaded.count("parcels", Filter(cql=cql(text))) == len(expected)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (cql("nosuch = 1"), r"'nosuch'.*households"),
        (cql("accenti(name) = 'x'"), "accenti"),
        (cql("households + 1 > 2"), r"'\+'"),
        ({"op": "frobnicate", "args": []}, "frobnicate"),
        (cql("households = 'many'"), "not a number"),
        (cql("t_after(name, DATE('2025-01-01'))"), "date or datetime"),
        (cql("s_intersects(name, POINT(0 0))"), "geometry"),
    ],
)
def test_invalid_cql2_filters(loaded, expression, message):
    with pytest.raises(InvalidFilter, match=message):
        loaded.read("parcels", Filter(cql=expression))


def test_sql_injection_is_bound_or_rejected(loaded):
    attack = "x' OR '1'='1'; DROP TABLE parcels; --"
    assert ids(loaded.read("parcels", Filter(equals={"name": attack}))) == []
    assert ids(loaded.read("parcels", Filter(cql={"op": "=", "args": [{"property": "name"}, attack]}))) == []
    assert ids(loaded.read("parcels", Filter(cql={"op": "like", "args": [{"property": "name"}, "%' OR 1=1 --"]}))) == []
    bad_name = 'name" = "name" OR 1=1; DROP TABLE parcels; --'
    with pytest.raises(InvalidFilter, match="unknown property"):
        loaded.read("parcels", Filter(cql={"op": "=", "args": [{"property": bad_name}, "x"]}))
    with pytest.raises(InvalidFilter, match="unknown property"):
        loaded.read("parcels", Filter(equals={bad_name: 1}))
    with pytest.raises(InvalidFilter, match="unknown property"):
        loaded.read("parcels", sortby=[SortKey(bad_name)])
    with pytest.raises(UnknownCollection):
        loaded.read('parcels"; DROP TABLE parcels; --')
    assert loaded.count("parcels") == 6 and loaded.layers() == ["parcels"]


def test_open_store_chooses_by_url(tmp_path):
    with open_store(str(tmp_path / "plan.gpkg")) as store:
        assert isinstance(store, GeoPackageStore)
    with pytest.raises(ValueError, match="unsupported"):
        open_store("mysql://localhost/plan")


@pytest.mark.postgis
def test_open_store_opens_postgis(postgis_available, require):
    require(postgis_available, "PostGIS")
    from geo.storage.postgis import PostGISStore

    with open_store(PG_URL.replace("postgresql://", "postgres://", 1)) as store:
        assert isinstance(store, PostGISStore) and store.schema == "planmap"


def test_unreachable_database_is_store_unavailable(require):
    require(psycopg is not None, "psycopg")
    from geo.errors import StoreUnavailable
    from geo.storage.postgis import PostGISStore

    with pytest.raises(StoreUnavailable, match="cannot open"):
        PostGISStore("postgresql://postgres@127.0.0.1:1/planmap_nowhere", timeout=2)  # nothing listens on port 1


def test_a_layer_write_expecting_a_version_refuses_a_changed_layer(loaded, parcels):
    from geo.errors import StaleVersion

    version = loaded.version("parcels")
    entry = HistoryEntry("parcels", "p1", dt.date(2025, 5, 1), "in_progress", 30.0, author="field")
    loaded.record_progress(entry, {"done": True})  # a report arrives while an import is prepared
    changed = parcels.assign(name="new")
    with pytest.raises(StaleVersion, match="parcels"):
        loaded.write_layer("parcels", changed, expected_version=version, history=[entry])
    assert set(loaded.read("parcels")["name"]) != {"new"}
    assert len(loaded.history("parcels")) == 1  # the refused write added no history


def test_a_layer_write_and_its_history_commit_together(loaded, parcels):
    version = loaded.version("parcels")
    entries = [HistoryEntry("parcels", i, dt.date(2025, 6, 1), "completed", 100.0, author="import") for i in IDS[:3]]
    loaded.write_layer("parcels", parcels.assign(name="new"), expected_version=version, history=entries)
    assert set(loaded.read("parcels")["name"]) == {"new"}
    history = loaded.history("parcels")
    assert list(history["feature_id"]) == IDS[:3] and set(history["author"]) == {"import"}
    assert loaded.version("parcels").rsplit(".", 1)[1] == str(int(version.rsplit(".", 1)[1]) + 1)  # one write
