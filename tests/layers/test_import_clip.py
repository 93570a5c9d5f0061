"""``on_invalid="clip"``: parcels crossing the city edge are clipped to the city, those wholly outside skipped."""

from __future__ import annotations

import json

import numpy as np
import pytest

import geopandas as gpd
import shapely

from geo.measure import area_mu
from layers.boundaries import load_boundaries
from layers.import_geometry import city_polygon, plan_area
from layers.import_zh import report_zh
from layers.importer import ImportOptions, import_file
from tests.layers.store_state import assert_unchanged, snapshot

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

MAPPING = {"PARCEL_ID": "id", "PRJ_NAME": "name", "status": {"column": "STATE", "values": {"built": "completed"}}}
HALF = 0.002
"""Half the side of the straddling square, in degrees (about 200 m)."""


@pytest.fixture
def store(writable_store):
    return writable_store


def _edge_squares() -> tuple[shapely.Polygon, shapely.Polygon]:
    """Return a square straddling the city edge and a small one just outside the city (within 1 km of it)."""
    counties = load_boundaries()
    city, area = city_polygon(counties), plan_area(counties)
    for x, y in shapely.get_coordinates(city.boundary)[::50]:
        straddling = shapely.box(x - HALF, y - HALF, x + HALF, y + HALF)
        if not (0.2 < shapely.intersection(straddling, city).area / straddling.area < 0.8):
            continue
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            cx, cy = x + dx * 0.004, y + dy * 0.004
            near = shapely.box(cx - 0.0003, cy - 0.0003, cx + 0.0003, cy + 0.0003)
            if not near.intersects(city) and near.within(area):
                return straddling, near
    raise AssertionError("no place on the city edge fits")


def edge_file(tmp_path, far: bool = False):
    straddling, near = _edge_squares()
    inside = shapely.box(112.9, 27.85, 112.9005, 27.8505)
    geoms = [inside, straddling, near] + ([shapely.box(116.4, 39.9, 116.401, 39.901)] if far else [])
    frame = gpd.GeoDataFrame(
        {
            "PARCEL_ID": [f"C-{i}" for i in range(len(geoms))],
            "PRJ_NAME": [f"地块{i}" for i in range(len(geoms))],
            "STATE": "built",
        },
        geometry=geoms,
        crs=4326,
    )
    path = tmp_path / "edge.gpkg"
    frame.to_file(path, engine="pyogrio")
    return path, straddling


def run(store, registry, path, **options):
    options.setdefault("allow_remove", 10**6)
    return import_file(store, registry.get("farmland"), path, ImportOptions(mapping=MAPPING, **options))


def test_clip_cuts_the_straddling_parcel_and_skips_the_one_outside(store, registry, tmp_path):
    path, straddling = edge_file(tmp_path)
    report = run(store, registry, path, on_invalid="clip")
    assert report.status == "applied", report.problems
    assert report.skipped_rows == 1 and report.skipped[0].row == 3
    assert report.skipped[0].problem.startswith("wholly outside the Xiangtan city boundary")
    assert [(c.row, c.id) for c in report.clipped] == [(2, "C-1")]
    clipped = report.clipped[0]
    whole = float(area_mu(straddling))
    assert clipped.area_mu_before == pytest.approx(whole, abs=0.01)
    assert 0 < clipped.area_mu_after < clipped.area_mu_before
    stored = store.read("farmland").set_index("id")
    assert sorted(stored.index) == ["C-0", "C-1"]
    geom = stored.loc["C-1", "geometry"]
    city = city_polygon(load_boundaries())
    assert geom.geom_type == "MultiPolygon" and shapely.difference(geom, city).area < 1e-12
    assert stored.loc["C-1", "area_mu"] == pytest.approx(float(area_mu(geom)), abs=0.01)
    assert stored.loc["C-1", "area_mu"] == pytest.approx(clipped.area_mu_after, abs=0.01)
    assert "clipped: row 2 id C-1" in report.summary()
    zh = report_zh(report)
    assert zh["skipped"][0]["problem_zh"].startswith("完全位于湘潭市边界之外")


def test_skip_keeps_the_straddling_parcel_whole(store, registry, tmp_path):
    path, straddling = edge_file(tmp_path)
    report = run(store, registry, path, on_invalid="skip")
    assert report.status == "applied" and report.skipped_rows == 0 and report.clipped == []
    stored = store.read("farmland").set_index("id")
    assert shapely.equals_exact(stored.loc["C-1", "geometry"].geoms[0], straddling, tolerance=1e-9)


def test_clip_skips_rows_far_away_and_reject_stays_all_or_nothing(store, registry, tmp_path):
    path, _ = edge_file(tmp_path, far=True)
    clipped = run(store, registry, path, on_invalid="clip", dry_run=True)
    assert clipped.status == "dry_run" and clipped.skipped_rows == 2
    assert [s.row for s in clipped.skipped] == [3, 4] and "outside Xiangtan" in clipped.skipped[1].problem
    before = snapshot(store, "farmland")
    rejected = run(store, registry, path)
    assert rejected.status == "rejected" and rejected.clipped == [] and rejected.problems_total == 1
    assert_unchanged(store, "farmland", before)
    assert np.isin(["C-0"], store.read("farmland")["id"]).sum() == 0


def test_the_command_line_clips(writable_gpkg, tmp_path, capsys):
    from server.cli import main

    path, _ = edge_file(tmp_path)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(MAPPING), encoding="utf-8")
    args = ["--data-dir", str(writable_gpkg.parent), "import", "farmland", str(path), "--mapping", str(mapping)]
    assert main([*args, "--on-invalid", "clip", "--allow-remove", "1000000"]) == 0
    out = capsys.readouterr().out
    assert "clipped 1 row(s) to the city" in out and "clipped: row 2 id C-1" in out and "skipped 1 row(s)" in out
