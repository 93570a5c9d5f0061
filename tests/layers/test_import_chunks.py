"""Large files are read in chunks and conformed in blocks: the outcome is the one of a single pass."""

from __future__ import annotations

import numpy as np
import pytest

import geopandas as gpd
import shapely
from geopandas.testing import assert_geodataframe_equal

import geo.readers
import layers.import_geometry
from layers.import_columns import coerce_column
from layers.import_fields import ValueProblem, coerce_value
from layers.importer import ImportOptions, import_file
from tests.layers.store_state import assert_unchanged, snapshot

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

CHUNK = 7
MAPPING = {
    "PARCEL_ID": "id",
    "PRJ_NAME": "name",
    "status": {"column": "STATE", "values": {"under_construction": "in_progress", "accepted": "completed"}},
}


@pytest.fixture
def store(writable_store):
    return writable_store


def parcels(n: int, outside: tuple[int, ...] = (), bad_state: tuple[int, ...] = ()) -> gpd.GeoDataFrame:
    """Return ``n`` small parcels in Xiangtan; rows in ``outside`` lie in Beijing, ``bad_state`` have no mapping."""
    lon = 112.9 + 0.001 * np.arange(n)
    lat = np.full(n, 27.85)
    lon[list(outside)], lat[list(outside)] = 116.4, 39.9
    states = np.where(np.arange(n) % 2 == 0, "under_construction", "accepted").astype(object)
    states[list(bad_state)] = "demolished"
    return gpd.GeoDataFrame(
        {"PARCEL_ID": [f"P-{i:03d}" for i in range(n)], "PRJ_NAME": [f" 地块{i} " for i in range(n)], "STATE": states},
        geometry=shapely.box(lon, lat, lon + 0.0005, lat + 0.0005),
        crs=4326,
    )


def run(store, registry, path, monkeypatch, chunk: int | None, **options):
    if chunk is not None:
        monkeypatch.setattr(geo.readers, "READ_CHUNK", chunk)
        monkeypatch.setattr(layers.import_geometry, "CONFORM_BLOCK", chunk)
    options.setdefault("allow_remove", 10**6)  # the plan's demo parcels give way
    return import_file(store, registry.get("farmland"), path, ImportOptions(mapping=MAPPING, **options))


def test_a_file_read_in_chunks_is_read_as_a_whole(tmp_path, monkeypatch):
    path = tmp_path / "parcels.gpkg"
    parcels(30).to_file(path, engine="pyogrio")
    whole = geo.readers.read_source(path).frame
    monkeypatch.setattr(geo.readers, "READ_CHUNK", CHUNK)
    chunked = geo.readers.read_source(path).frame
    assert len(chunked) == 30
    assert_geodataframe_equal(chunked, whole)


def test_chunked_import_stores_what_a_single_pass_stores(store, registry, tmp_path, monkeypatch):
    path = tmp_path / "parcels.gpkg"
    parcels(30, outside=(3, 8, 21)).to_file(path, engine="pyogrio")
    single = run(store, registry, path, monkeypatch, None, on_invalid="skip")
    first = store.read("farmland").sort_values("id", ignore_index=True)
    chunked = run(store, registry, path, monkeypatch, CHUNK, on_invalid="skip")
    assert single.status == chunked.status == "applied"
    assert (chunked.unchanged, chunked.added, chunked.skipped_rows) == (27, 0, 3)
    again = store.read("farmland").sort_values("id", ignore_index=True)
    assert_geodataframe_equal(again, first)
    assert set(again["status"]) == {"in_progress", "completed"}
    assert again["name"].iloc[0] == "地块0" and again["geometry"].geom_type.eq("MultiPolygon").all()


def test_skipped_rows_across_chunk_boundaries_keep_their_row_numbers(store, registry, tmp_path, monkeypatch):
    path = tmp_path / "parcels.gpkg"
    parcels(30, outside=(6, 7, 20), bad_state=(13, 14)).to_file(path, engine="pyogrio")
    report = run(store, registry, path, monkeypatch, CHUNK, on_invalid="skip")
    assert report.status == "applied" and report.skipped_rows == 5
    assert [(s.row, s.id, s.column) for s in report.skipped] == [
        (7, "P-006", "geometry"),
        (8, "P-007", "geometry"),
        (14, "P-013", "STATE"),
        (15, "P-014", "STATE"),
        (21, "P-020", "geometry"),
    ]
    assert "outside Xiangtan" in report.skipped[0].problem and "demolished" in report.skipped[2].problem
    assert report.added == 25 and "P-013" not in set(store.read("farmland")["id"])


def test_reject_leaves_the_store_unchanged_when_the_bad_row_is_in_a_later_chunk(store, registry, tmp_path, monkeypatch):
    path = tmp_path / "parcels.gpkg"
    parcels(30, outside=(26,)).to_file(path, engine="pyogrio")
    before = snapshot(store, "farmland")
    report = run(store, registry, path, monkeypatch, CHUNK)
    assert report.status == "rejected" and report.problems_total == 1
    assert (report.problems[0].row, report.problems[0].id) == (27, "P-026")
    assert_unchanged(store, "farmland", before)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ([" a ", "", None, "b\x00c", "\ud800", 3.0, "新建", "改造提升 "], "name"),
        (["新建", "改造提升 ", "rebuilt", None, "  "], "build_type"),
        ([1.0, 2.5, None, float("inf"), np.nan, "7", True], "project_year"),
        ([1.0, 2.5, None, float("inf"), np.nan, "7亩", "x"], "area_mu"),
        ([2024, 2025, 2026], "project_year"),
        ([True, False, None, "是"], "is_demo"),
    ],
)
def test_whole_columns_are_checked_as_cell_by_cell(registry, values, field):
    import pandas as pd

    spec = registry.get("farmland").field(field)
    expected, problems = [], []
    for row, value in enumerate(values):
        try:
            expected.append(coerce_value(value, spec))
        except ValueProblem as exc:
            expected.append(None)
            problems.append((row, str(exc)))
    dtype = None if field != "project_year" or None in values else "int64"
    got, found = coerce_column(pd.Series(values, dtype=dtype if dtype else object), spec)
    assert got.tolist() == expected and [type(v) for v in got] == [type(v) for v in expected]
    assert found == problems
