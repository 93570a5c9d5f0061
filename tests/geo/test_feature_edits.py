"""The store verbs behind Part 4 (create, replace, delete a feature) on both stores."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

import pytest

import shapely
from shapely.geometry import box

from geo.errors import FeatureExists, StaleVersion, UnknownFeature
from geo.storage.base import FeatureWrite, HistoryEntry, tombstone_kind


def entry(fid, edit):
    return HistoryEntry("farmland", fid, date(2025, 7, 1), "planned", 0.0, author="chen", data={"edit": edit})


def write(fid, geom, **values):
    return FeatureWrite(entry(fid, "create"), {"id": fid, "name": "样例", "status": "planned", **values}, geom)


def rtree_state(path):
    with sqlite3.connect(path) as conn:
        rows = conn.execute('SELECT count(*), min(minx), max(maxx) FROM "rtree_farmland_geom"').fetchone()
        features = conn.execute('SELECT count(*) FROM "farmland"').fetchone()[0]
        extent = conn.execute("SELECT min_x, max_x FROM gpkg_contents WHERE table_name = 'farmland'").fetchone()
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    return rows, features, extent


def test_create_replace_delete_keep_index_history_and_archive(writable_store, writable_store_url):
    store = writable_store
    far = shapely.MultiPolygon([box(113.5, 28.5, 113.51, 28.51)])  # east of every demo feature: extends the extent
    version = store.version("farmland")
    store.create_feature(write("T-1", far, ponds=2))
    assert store.version("farmland") != version
    got = store.get("farmland", "T-1")
    assert got["ponds"].iloc[0] == 2 and got.geometry.iloc[0].equals(far)
    assert store.bounds("farmland")[2] == pytest.approx(113.51)
    assert store.read("farmland", where=None, columns=["id"]).shape[0] == store.count("farmland")
    with pytest.raises(FeatureExists):
        store.create_feature(write("T-1", far))
    feature_version = store.feature_version("farmland", "T-1")
    moved = shapely.MultiPolygon([box(112.9, 27.8, 112.91, 27.81)])
    with pytest.raises(StaleVersion):
        store.replace_feature(FeatureWrite(entry("T-1", "replace"), {"ponds": 9}, moved), "stale")
    assert store.get("farmland", "T-1")["ponds"].iloc[0] == 2
    store.replace_feature(FeatureWrite(entry("T-1", "replace"), {"ponds": 3}, moved), feature_version)
    assert store.get("farmland", "T-1").geometry.iloc[0].equals(moved)
    assert store.bounds("farmland")[2] < 113.5  # the extent shrank back
    feature_version = store.feature_version("farmland", "T-1")
    store.delete_feature(entry("T-1", "delete"), feature_version, {"type": "Feature", "id": "T-1"})
    with pytest.raises(UnknownFeature):
        store.get("farmland", "T-1")
    assert store.record(tombstone_kind("farmland"), "T-1").doc == {"type": "Feature", "id": "T-1"}
    data = store.history("farmland", ["T-1"])["data"].map(lambda d: json.loads(d) if isinstance(d, str) else d)
    assert [d["edit"] for d in data] == ["create", "replace", "delete"]
    with pytest.raises(FeatureExists, match="deleted"):
        store.create_feature(write("T-1", far))
    with pytest.raises(UnknownFeature):
        store.delete_feature(entry("T-1", "delete"), feature_version, {})
    if writable_store_url.kind == "gpkg":
        (rows, minx, maxx), features, extent = rtree_state(writable_store_url.url)
        assert rows == features and extent == (pytest.approx(minx), pytest.approx(maxx))


def geometry_counter(store, kind) -> int:
    """Read ``planmap_versions.geometry_version`` of farmland straight from the store's database."""
    sql = "SELECT geometry_version FROM {}planmap_versions WHERE layer = 'farmland'"
    if kind == "gpkg":
        with store._db.reading() as conn:
            return conn.execute(sql.format("")).fetchone()[0]
    with store._db.conn() as conn:
        return conn.execute(sql.format(store._db.s + ".")).fetchone()[0]


def test_geometry_version_counts_edits_of_features_not_progress_reports(writable_store, writable_store_url):
    store, kind = writable_store, writable_store_url.kind
    start = geometry_counter(store, kind)
    assert start >= 1  # the demo layer was written
    version = store.version("farmland")
    first, second = store.read("farmland", where=None, columns=["id"])["id"].iloc[:2]
    store.record_progress(entry(first, "report"), {"status": "in_progress"})
    store.append_history([entry(second, "report")])
    assert store.version("farmland") != version and geometry_counter(store, kind) == start
    store.create_feature(write("T-2", shapely.MultiPolygon([box(113.5, 28.5, 113.51, 28.51)])))
    assert geometry_counter(store, kind) == start + 1
    moved = shapely.MultiPolygon([box(112.9, 27.8, 112.91, 27.81)])
    store.replace_feature(FeatureWrite(entry("T-2", "replace"), {}, moved), store.feature_version("farmland", "T-2"))
    store.delete_feature(entry("T-2", "delete"), store.feature_version("farmland", "T-2"), {})
    assert geometry_counter(store, kind) == start + 3
    if kind == "gpkg":
        assert store.geometry_version("farmland").endswith(f".g{start + 3}")
