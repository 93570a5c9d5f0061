"""Spatial progress on the demo data, checked against figures recomputed here with plain pandas and pyproj.Geod."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

import pyproj
import shapely

from geo.errors import InvalidGeometry
from geo.storage.base import Filter
from layers.areas import parse_area
from layers.deadlines import deadlines
from layers.progress import layer_progress
from layers.progress_counties import counties_geojson, county_progress
from layers.timeline import layer_timeline
from layers.water import classify, is_compliant
from layers.water_status import water_compliance

MID, END = date(2025, 6, 30), date(2025, 12, 31)
GEOD = pyproj.Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def store(demo_store):
    return demo_store


def latest_reports(store, layer_id: str, as_of: date) -> pd.DataFrame:
    """Each feature's last report dated on or before ``as_of`` (plain pandas, independent of layers.progress)."""
    hist = store.history(layer_id)
    hist = hist[pd.to_datetime(hist["date"]) <= pd.Timestamp(as_of)]
    return hist.sort_values(["date", "seq"]).groupby("feature_id").tail(1).set_index("feature_id")


def expected_frame(store, registry, layer_id: str, as_of: date) -> pd.DataFrame:
    layer = registry.get(layer_id)
    frame = pd.DataFrame(store.read(layer_id)).set_index("id")
    last = latest_reports(store, layer_id, as_of)
    frame["st"] = last["status"].reindex(frame.index)
    frame["st"] = frame["st"].fillna("no_data" if layer_id == "water-sections" else "planned")
    frame["done"] = frame["st"].isin(layer.target.done_statuses)
    pct = pd.to_numeric(last["percent"], errors="coerce").reindex(frame.index).fillna(0.0)
    frame["pct"] = np.where(frame["done"], 100.0, pct.clip(0, 100))
    return frame


def geod_area(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


@pytest.mark.parametrize("as_of", [MID, END])
def test_farmland_done_mu_per_county_matches_pandas(store, registry, as_of):
    frame = expected_frame(store, registry, "farmland", as_of)
    expected = frame[frame["done"]].groupby("county")["area_mu"].sum()
    result = county_progress(store, registry.get("farmland"), as_of=as_of)
    assert [row.scope for row in result.counties] == ["430302", "430304", "430321", "430381", "430382"]
    for row in result.counties:
        assert row.done == pytest.approx(float(expected.get(row.scope, 0.0)), abs=1e-6)
        assert row.scope_name and row.scope_name.endswith(("区", "县", "市"))
    assert result.total.done == pytest.approx(float(expected.sum()), abs=1e-6)
    assert sum(r.done for r in result.counties) == pytest.approx(result.total.done)
    city = layer_progress(store, registry.get("farmland"), as_of=as_of)
    assert city.done == pytest.approx(result.total.done)
    assert city.pct == pytest.approx(100 * city.done / 100_000, abs=1e-3)


def test_mid_year_is_behind_year_end(store, registry):
    mid = layer_progress(store, registry.get("farmland"), as_of=MID)
    end = layer_progress(store, registry.get("farmland"), as_of=END)
    assert 0 < mid.done < end.done
    assert mid.done_features < end.done_features
    assert sum(mid.by_status.values()) == mid.features == end.features


@pytest.mark.parametrize("layer_id", ["farmland", "old-communities", "reservoirs"])
def test_progress_weighted_and_secondary_sums(store, registry, layer_id):
    layer = registry.get(layer_id)
    frame = expected_frame(store, registry, layer_id, MID)
    value = frame["area_mu"] if layer.target.measure == "sum" else pd.Series(1.0, index=frame.index)
    result = layer_progress(store, layer, as_of=MID)
    assert result.done == pytest.approx(float(value[frame["done"]].sum()))
    assert result.done_weighted == pytest.approx(float((value * frame["pct"] / 100).sum()))
    assert result.done <= result.done_weighted <= result.planned
    for name in layer.target.secondary:
        assert result.secondary[name].done == pytest.approx(float(frame.loc[frame["done"], name].sum()))
        assert result.secondary[name].total == pytest.approx(float(frame[name].sum()))
    if layer_id == "old-communities":
        assert result.secondary["households"].done > 0


def test_current_attributes_without_as_of(store, registry):
    frame = pd.DataFrame(store.read("farmland"))
    result = layer_progress(store, registry.get("farmland"))
    assert result.done == pytest.approx(float(frame.loc[frame["status"] == "completed", "area_mu"].sum()))
    assert result.by_status == frame["status"].value_counts().sort_index().to_dict()


def _cutting_polygon(store):
    """A hand-made quadrilateral whose east edge cuts through the middle of a few farmland parcels."""
    farms = store.read("farmland").sort_values("id").reset_index(drop=True)
    cx = float(np.median(shapely.get_x(shapely.centroid(farms.geometry.values))))  # a meridian mid-data
    minx, miny, maxx, maxy = farms.total_bounds
    return shapely.Polygon([(minx - 0.1, miny - 0.1), (cx, miny - 0.05), (cx + 0.001, maxy + 0.1), (minx, maxy + 0.1)])


@pytest.mark.parametrize("as_of", [MID, END])
def test_polygon_counts_farmland_by_geodesic_area_share(store, registry, as_of):
    area = _cutting_polygon(store)
    frame = expected_frame(store, registry, "farmland", as_of)
    geoms = store.read("farmland").set_index("id").geometry
    share = pd.Series({i: geod_area(g.intersection(area)) / geod_area(g) for i, g in geoms.items()})
    assert ((share > 0.01) & (share < 0.99)).sum() >= 2  # some parcels really are cut
    expected_done = float((frame["area_mu"] * share)[frame["done"]].sum())
    result = layer_progress(store, registry.get("farmland"), as_of=as_of, area=area)
    assert result.done == pytest.approx(expected_done, rel=1e-9, abs=1e-6)
    assert result.planned == pytest.approx(float((frame["area_mu"] * share).sum()), rel=1e-9)
    assert result.features == int((share > 0).sum())
    assert result.scope == "area"
    whole = layer_progress(store, registry.get("farmland"), as_of=as_of)
    assert 0 < result.done < whole.done


def test_polygon_counts_points_and_communities_by_representative_point(store, registry):
    area = _cutting_polygon(store)
    for layer_id in ("reservoirs", "old-communities"):
        frame = expected_frame(store, registry, layer_id, END)
        geoms = store.read(layer_id).set_index("id").geometry
        inside = pd.Series({i: area.intersects(g.representative_point()) for i, g in geoms.items()})
        result = layer_progress(store, registry.get(layer_id), as_of=END, area=area)
        assert result.features == int(inside.sum())
        assert result.done == int((inside & frame["done"]).sum())


def test_bbox_and_county_filter(store, registry):
    layer = registry.get("farmland")
    bbox = (112.85, 27.70, 113.0, 27.85)
    assert layer_progress(store, layer, END, area=bbox).done == pytest.approx(
        layer_progress(store, layer, END, area=shapely.box(*bbox)).done
    )
    frame = expected_frame(store, registry, "farmland", END)
    county = layer_progress(store, layer, END, where=Filter(equals={"county": ["430321"]}))
    assert county.done == pytest.approx(
        float(frame.loc[frame["done"] & (frame["county"] == "430321"), "area_mu"].sum())
    )
    assert county.scope == "selection"


def test_parse_area_accepts_feature_and_rejects_bad_input():
    ring = [[112.9, 27.7], [113.0, 27.7], [113.0, 27.8], [112.9, 27.7]]
    assert parse_area({"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}})
    for bad in (
        {"type": "Point", "coordinates": [112.9, 27.8]},
        {"type": "Polygon", "coordinates": [[[500, 27], [501, 27], [501, 28], [500, 27]]]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},  # bow-tie
        {"type": "Polygon", "coordinates": "nope"},
        {"type": "Feature", "geometry": None},
    ):
        with pytest.raises(InvalidGeometry, match="body"):
            parse_area(bad)


@pytest.mark.parametrize("layer_id", ["farmland", "old-communities"])
def test_timeline_is_monotonic_and_ends_at_year_end_progress(store, registry, layer_id):
    layer = registry.get(layer_id)
    timeline = layer_timeline(store, layer)
    done = [p.done for p in timeline.points]
    assert [p.month for p in timeline.points] == [f"2025-{m:02d}" for m in range(1, 13)]
    assert all(b >= a for a, b in zip(done, done[1:], strict=False))
    assert done[-1] == pytest.approx(layer_progress(store, layer, as_of=END).done)
    assert timeline.points[5].done == pytest.approx(layer_progress(store, layer, as_of=MID).done)
    assert timeline.points[-1].plan == pytest.approx(layer.target.value)
    assert timeline.points[0].plan == pytest.approx(layer.target.value / 12)


def test_county_timeline_plans_to_the_county_total(store, registry):
    layer = registry.get("farmland")
    where = Filter(equals={"county": ["430381"]})
    timeline = layer_timeline(store, layer, where=where)
    frame = expected_frame(store, registry, "farmland", END)
    assert timeline.plan_basis == pytest.approx(float(frame.loc[frame["county"] == "430381", "area_mu"].sum()))
    assert timeline.points[-1].done == pytest.approx(layer_progress(store, layer, END, where).done)


def _bridge(store):
    links = store.read("transport-links")
    row = links[links["name"].str.contains("下摄司大桥")].iloc[0]
    milestone = next(m for m in row["milestones"] if m["name"] == "建成通车")
    return row, milestone


def test_bridge_opening_milestone_by_as_of(store, registry):
    row, milestone = _bridge(store)
    assert milestone["due"] == "2025-06-30"
    due = date(2025, 6, 30)
    done = date.fromisoformat(milestone["done"]) if milestone.get("done") else None
    layer = registry.get("transport-links")
    for as_of in (date(2025, 6, 10), date(2025, 7, 1), date(2025, 7, 20), END):
        report = deadlines(store, [layer], as_of, within_days=30, threshold_pct=100)
        found = {
            name: [i for i in getattr(report, name) if i.id == row["id"] and i.milestone == "建成通车"]
            for name in ("overdue", "done_late", "at_risk")
        }
        if done is not None and done <= as_of:
            expected = "done_late" if done > due else None
        elif due < as_of:
            expected = "overdue"
        else:
            expected = "at_risk"  # threshold 100 %: anything not done and due within 30 days is at risk
        for name, items in found.items():
            assert len(items) == (1 if name == expected else 0), (as_of, name, milestone)
        if expected == "overdue":
            assert found["overdue"][0].days == (as_of - due).days
        if expected == "done_late":
            assert found["done_late"][0].done == done
            assert found["done_late"][0].days == (done - due).days


def test_feature_deadlines_match_replay(store, registry):
    layer = registry.get("farmland")
    frame = expected_frame(store, registry, "farmland", MID)
    due = pd.to_datetime(frame["due_date"]).dt.date
    overdue = set(frame.index[(due < MID) & ~frame["done"]])
    horizon = MID + timedelta(days=30)
    behind = (frame["pct"] < 50) | (frame["st"] == "planned")
    at_risk = set(frame.index[(due >= MID) & (due <= horizon) & ~frame["done"] & behind])
    report = deadlines(store, [layer], MID, within_days=30, threshold_pct=50)
    assert {i.id for i in report.overdue if i.kind == "feature"} == overdue
    assert {i.id for i in report.at_risk if i.kind == "feature"} == at_risk
    assert report.counts["overdue"] == len(report.overdue)
    assert [i.due for i in report.overdue] == sorted(i.due for i in report.overdue)


@pytest.mark.parametrize("as_of", [MID, END])
def test_water_compliance_recomputed_from_readings(store, registry, as_of):
    sections = pd.DataFrame(store.read("water-sections")).set_index("id")
    hist = store.history("water-sections")
    hist = hist[(hist["date"] <= as_of.isoformat()) & hist["data"].notna()]
    compliant, months_bad = 0, {}
    for sid, rows in hist.groupby("feature_id"):
        name = sections.loc[sid, "name"]
        body = "lake" if ("水库" in name or "湖" in name) else "river"
        readings = rows.assign(month=rows["date"].str[:7]).sort_values(["date", "seq"]).groupby("month").tail(1)
        classes = [classify(json.loads(d), body) for d in readings["data"]]
        target = sections.loc[sid, "target_class"]
        compliant += is_compliant(classes[-1], target)
        months_bad[sid] = sum(not is_compliant(c, target) for c in classes)
    result = water_compliance(store, registry.get("water-sections"), as_of)
    assert result.sections_total == len(sections) == 14
    assert result.compliant == compliant
    assert result.compliant + result.noncompliant + result.no_data == 14
    assert {s.id: s.months_noncompliant for s in result.sections if s.months_assessed} == months_bad


def test_counties_geojson_properties(store, registry):
    layer = registry.get("farmland")
    fc = counties_geojson(store, layer, as_of=END)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 5
    total = layer_progress(store, layer, as_of=END)
    assert sum(f["properties"]["done"] for f in fc["features"]) == pytest.approx(total.done)
    for feature in fc["features"]:
        props = feature["properties"]
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert props["target_share_pct"] == pytest.approx(100 * props["done"] / 100_000, abs=1e-3)
        assert props["features"] == sum(props[f"features_{s}"] for s in ("planned", "in_progress", "completed"))
