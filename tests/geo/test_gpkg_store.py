"""GeoPackage specifics: a real .gpkg that GDAL opens, R-tree indexes, WAL, atomic writes, threads."""

import datetime as dt
import shutil
import sqlite3
import subprocess
import threading

import pytest

import geopandas as gpd
from shapely.geometry import Point, box

from geo.storage.base import Filter, HistoryEntry
from geo.storage.gpkg import GeoPackageStore


def _frame(n: int = 50) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [f"f{i:03d}" for i in range(n)], "name": [f"地块{i}" for i in range(n)], "n": list(range(n))},
        geometry=[box(112 + i * 0.01, 27.5, 112.005 + i * 0.01, 27.505) for i in range(n)],
        crs=4326,
    )


@pytest.fixture
def store(tmp_path):
    with GeoPackageStore(tmp_path / "t.gpkg") as s:
        s.write_layer("parcels", _frame())
        s.write_layer("points", gpd.GeoDataFrame({"id": ["p"]}, geometry=[Point(112.9, 27.8)], crs=4326))
        yield s


def test_gdal_opens_every_layer_with_its_spatial_index(store, require):
    require(shutil.which("ogrinfo") is not None, "GDAL ogrinfo")
    listing = subprocess.run(["ogrinfo", "-ro", "-q", str(store.path)], capture_output=True, text=True, check=True)
    assert "parcels" in listing.stdout and "points" in listing.stdout and "planmap_history" in listing.stdout
    for layer in ("parcels", "points"):
        out = subprocess.run(
            ["ogrinfo", "-ro", "-q", str(store.path), "-sql", f"SELECT HasSpatialIndex('{layer}', 'geom')"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "= 1" in out.stdout, out.stdout
    info = subprocess.run(["ogrinfo", "-ro", "-so", str(store.path), "parcels"], capture_output=True, text=True)
    assert "Feature Count: 50" in info.stdout


def test_file_is_wal_and_intact(store):
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kinds = dict(conn.execute("SELECT table_name, data_type FROM gpkg_contents"))
    assert kinds["parcels"] == "features" and kinds["planmap_history"] == "attributes"


def test_history_is_append_only_in_the_database(store):
    store.append_history([HistoryEntry("parcels", "f001", dt.date(2025, 3, 1), "in_progress", 10.0)])
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE planmap_history SET status = 'completed'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM planmap_history")


def test_every_write_changes_the_version(store):
    seen = {store.version("parcels")}
    store.record_progress(HistoryEntry("parcels", "f000", dt.date(2025, 1, 1), "completed", 100.0), {"n": 7})
    seen.add(store.version("parcels"))
    store.write_layer("parcels", _frame())
    seen.add(store.version("parcels"))
    assert len(seen) == 3


def test_updating_attributes_keeps_the_rtree_consistent(store):
    store.record_progress(HistoryEntry("parcels", "f010", dt.date(2025, 5, 1), "completed", 100.0), {"n": 99})
    got = store.read("parcels", Filter(bbox=(112.099, 27.499, 112.106, 27.506)))
    assert got["id"].tolist() == ["f010"] and got["n"].tolist() == [99]


def test_concurrent_progress_reports_lose_nothing(store):
    def report(worker: int) -> None:
        for i in range(20):
            entry = HistoryEntry("parcels", f"f{worker:03d}", dt.date(2025, 6, 1), "in_progress", float(i))
            store.record_progress(entry, {"n": i})

    threads = [threading.Thread(target=report, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = store.history("parcels")
    assert len(history) == 80
    assert history.groupby("feature_id").size().to_dict() == {f"f{w:03d}": 20 for w in range(4)}
    assert store.read("parcels", Filter(ids=["f000", "f003"]))["n"].tolist() == [19, 19]


def test_readers_see_the_old_or_the_new_layer_during_a_replace(store):
    counts: list[int] = []
    stop = threading.Event()

    def read_loop() -> None:
        while not stop.is_set():
            counts.append(store.count("parcels"))

    reader = threading.Thread(target=read_loop)
    reader.start()
    for n in (10, 50, 30):
        store.write_layer("parcels", _frame(n))
    stop.set()
    reader.join()
    assert set(counts) <= {50, 10, 30} and store.count("parcels") == 30


def test_large_layers_answer_nearest_through_the_rtree_as_the_index_does(store, monkeypatch):
    from geo.storage.gpkg import nearest

    lon, lat = 112.1072, 27.5093
    indexed = store.nearest("parcels", lon, lat, 3_000, limit=12, columns=["id", "n"])
    assert store._nearest._cache  # a whole-layer index answered
    monkeypatch.setattr(nearest, "INDEX_MAX_FEATURES", 10)
    store._nearest.clear()
    windowed = store.nearest("parcels", lon, lat, 3_000, limit=12, columns=["id", "n"])
    assert not store._nearest._cache  # no whole-layer index for a layer above the bound
    assert windowed["id"].tolist() == indexed["id"].tolist() and windowed["n"].tolist() == indexed["n"].tolist()
    assert windowed["distance_m"].to_numpy() == pytest.approx(indexed["distance_m"].to_numpy(), abs=0.01)
    assert windowed["bearing_deg"].to_numpy() == pytest.approx(indexed["bearing_deg"].to_numpy(), abs=0.01)
    plain = store.nearest("parcels", lon, lat, 3_000, geometry=False)
    assert "geometry" not in plain.columns and plain["id"].iloc[0] == indexed["id"].iloc[0]
