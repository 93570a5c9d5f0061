"""Nearest through the R-tree measures the closest candidates first and stops early: same answers as measuring all."""

from __future__ import annotations

import numpy as np
import pytest

import geopandas as gpd
import shapely

from geo.storage.gpkg import GeoPackageStore, nearest


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = np.random.default_rng(11)
    n = 3000
    lon, lat = rng.uniform(112.85, 112.95, n), rng.uniform(27.80, 27.88, n)
    size = rng.uniform(0.0002, 0.004, n)  # small parcels and long ones, so envelopes mislead
    geoms = shapely.box(lon, lat, lon + size, lat + size / 3)
    geoms[::97] = shapely.points(lon[::97], lat[::97])
    frame = gpd.GeoDataFrame({"id": [f"p-{i:05d}" for i in range(n)], "n": np.arange(n)}, geometry=geoms, crs=4326)
    path = tmp_path_factory.mktemp("near") / "near.gpkg"
    with GeoPackageStore(path) as s:
        s.write_layer("parcels", frame)
    with GeoPackageStore(path) as s:
        yield s


POINTS = [(112.9, 27.84), (112.86, 27.81), (112.949, 27.879), (112.91, 27.86), (112.80, 27.84)]


@pytest.mark.parametrize(("radius", "limit"), [(500, 1), (500, 12), (2000, 50), (800, None), (3000, 200)])
def test_early_stopping_answers_as_measuring_every_candidate(store, monkeypatch, radius, limit):
    whole = [store.nearest("parcels", lon, lat, radius, limit=limit, columns=["id", "n"]) for lon, lat in POINTS]
    assert store._nearest._cache  # the whole-layer index answered those
    monkeypatch.setattr(nearest, "INDEX_MAX_FEATURES", 10)
    monkeypatch.setattr(nearest, "REFINE_BATCH", 7)
    store._nearest.clear()
    read = []
    real = nearest.SpatialIndex

    def counting(geoms):
        read.append(len(geoms))
        return real(geoms)

    monkeypatch.setattr(nearest, "SpatialIndex", counting)
    for (lon, lat), expected in zip(POINTS, whole, strict=True):
        got = store.nearest("parcels", lon, lat, radius, limit=limit, columns=["id", "n"])
        assert got["id"].tolist() == expected["id"].tolist(), (lon, lat)
        assert got["distance_m"].to_numpy() == pytest.approx(expected["distance_m"].to_numpy(), abs=0.01)
    assert not store._nearest._cache
    if limit is not None and limit <= 12:
        assert sum(read) < 0.5 * 3000  # far fewer geometries measured than the search boxes hold
