"""Tests for layers.demo: the demo build written into a GeoPackage, read back and checked independently."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import geopandas as gpd
import pyproj
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point

from geo.storage.gpkg import GeoPackageStore
from layers.boundaries import county_of, load_boundaries
from layers.demo import BuildReport, build_demo, generate
from layers.progress import layer_progress
from layers.registry import LayerRegistry, load_catalogue
from layers.water import classify, is_compliant

GEOD = pyproj.Geod(ellps="WGS84")
MU_M2 = 10000 / 15
CITY_GOV = (112.9454, 27.8313)
COUNTS = {
    "counties": 6,
    "farmland": None,
    "reservoirs": 25,
    "water-sections": 14,
    "logistics-hubs": 4,
    "transport-links": 2,
    "old-communities": 144,
    "black-odorous-waters": 33,
    "road-junctions": 65,
    "emergency-stations": 10,
}
CURRENT = ["status", "progress_pct", "updated_at", "start_date", "completed_date"]


@dataclass
class Built:
    store: GeoPackageStore
    report: BuildReport
    steps: list[tuple[str, int, int]]


def _build(path: Path, registry: LayerRegistry, seed: int) -> Built:
    steps: list[tuple[str, int, int]] = []
    store = GeoPackageStore(path)
    report = build_demo(store, registry, seed=seed, on_step=lambda *step: steps.append(step))
    return Built(store, report, steps)


@pytest.fixture(scope="module")
def registry() -> LayerRegistry:
    return load_catalogue()


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, registry: LayerRegistry) -> Iterator[dict[str, Built]]:
    root = tmp_path_factory.mktemp("demo")
    out = {
        "main": _build(root / "a.gpkg", registry, 2025),
        "same": _build(root / "b.gpkg", registry, 2025),
        "other": _build(root / "c.gpkg", registry, 7),
    }
    yield out
    for built in out.values():
        built.store.close()


@pytest.fixture(scope="module")
def store(builds: dict[str, Built]) -> GeoPackageStore:
    return builds["main"].store


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    return load_boundaries().set_index("id")


def _project_ids(registry: LayerRegistry) -> list[str]:
    return [layer.id for layer in registry.projects()]


def test_counts_and_report(builds: dict[str, Built], store: GeoPackageStore) -> None:
    report = builds["main"].report
    for layer_id, expected in COUNTS.items():
        assert store.count(layer_id) == report.counts[layer_id]
        if expected is not None:
            assert report.counts[layer_id] == expected, layer_id
    assert report.history_entries == len(store.history())
    assert report.seconds < 20.0
    assert report.gk_epsg == 4547


def test_progress_callback_counts_up_to_the_total(builds: dict[str, Built]) -> None:
    steps = builds["main"].steps
    assert [done for _, done, _ in steps] == list(range(1, len(steps) + 1))
    assert {total for _, _, total in steps} == {len(steps)}
    assert steps[-1][0] == "metadata"


def test_build_metadata(store: GeoPackageStore) -> None:
    meta = store.get_meta("build")
    assert meta["seed"] == 2025 and meta["plan_year"] == 2025 and meta["gk_epsg"] == 4547
    assert {"builder_version", "built_at", "gk_reason"} <= set(meta)


def test_schema_matches_the_catalogue(store: GeoPackageStore, registry: LayerRegistry) -> None:
    for layer in registry:
        frame = store.read(layer.id)
        assert list(frame.columns) == [*layer.field_names, "geometry"], layer.id
        assert frame.crs.to_epsg() == 4326
        assert (frame.geom_type == layer.geometry_type).all(), layer.id
        assert frame.is_valid.all(), layer.id


def test_generated_frames_have_catalogue_types(registry: LayerRegistry) -> None:
    checks = {
        "str": lambda v: v is None or isinstance(v, str),
        "int": lambda v: isinstance(v, int | np.integer),
        "float": lambda v: isinstance(v, float | np.floating),
        "bool": lambda v: isinstance(v, bool | np.bool_),
        "date": lambda v: v is None or (isinstance(v, date) and not hasattr(v, "hour")),
        "json": lambda v: v is None or isinstance(v, list | dict),
    }
    for layer_id, data in generate(registry, seed=2025).items():
        layer = registry.get(layer_id)
        for spec in layer.fields:
            bad = [v for v in data.frame[spec.name] if not checks[spec.type](v)]
            assert not bad, (layer_id, spec.name, bad[:3])


def test_demo_flags_and_sources(store: GeoPackageStore, registry: LayerRegistry) -> None:
    assert not store.read("counties")["is_demo"].any()
    for layer_id in _project_ids(registry):
        frame = store.read(layer_id)
        assert frame["is_demo"].all(), layer_id
        assert frame["source"].str.startswith("generated demo data: ").all(), layer_id
        assert frame["id"].is_unique and frame["name"].is_unique, layer_id
    assert store.history()["is_demo"].all()


def test_every_feature_lies_in_its_county(
    store: GeoPackageStore, registry: LayerRegistry, counties: gpd.GeoDataFrame
) -> None:
    city = counties.loc["430300"].geometry
    for layer_id in _project_ids(registry):
        frame = store.read(layer_id)
        assert (frame["county_name"] == counties.loc[frame["county"], "name"].to_numpy()).all(), layer_id
        home = counties.loc[frame["county"]].geometry.to_numpy()
        lines = (frame.geom_type == "MultiLineString").to_numpy()
        assert shapely.covered_by(frame.geometry.to_numpy()[~lines], home[~lines]).all(), layer_id
        assert shapely.covered_by(frame.geometry.to_numpy(), city).all(), layer_id
        # A line may cross a boundary (下摄司大桥 spans the 湘江): its representative point decides.
        points = shapely.point_on_surface(frame.geometry.to_numpy())
        inside = np.array([counties.loc[c].geometry.contains(p) for c, p in zip(frame["county"], points, strict=True)])
        assert inside.all(), layer_id
        assert (county_of(frame.geometry) == frame["county"].to_numpy()).all(), layer_id


def _geodesic_mu(geoms: gpd.GeoSeries) -> np.ndarray:
    return np.array([abs(GEOD.geometry_area_perimeter(g)[0]) / MU_M2 for g in geoms])


def test_farmland_area_and_shapes(store: GeoPackageStore) -> None:
    frame = store.read("farmland")
    mu = _geodesic_mu(frame.geometry)
    assert mu.sum() >= 100_000.0
    np.testing.assert_allclose(frame["area_mu"], mu, atol=0.01)
    assert mu.min() >= 200.0 and mu.max() <= 4000.0 and 500.0 <= np.median(mu) <= 1500.0
    rural = frame["county"].isin(["430321", "430381", "430382"])
    assert frame.loc[rural, "area_mu"].sum() >= 0.85 * frame["area_mu"].sum()
    assert not (frame["county"] == "430304").any()
    tree = shapely.STRtree(frame.geometry.to_numpy())
    left, right = tree.query(frame.geometry.to_numpy(), predicate="intersects")
    assert (left == right).all(), "farmland projects overlap"
    assert set(frame["build_type"]) == {"新建", "改造提升"}
    yuan_per_mu = frame["investment_wan"] * 10_000 / frame["area_mu"]
    assert yuan_per_mu.between(1390, 1710).all()


def test_farmland_keeps_clear_of_the_city_core(store: GeoPackageStore) -> None:
    frame = store.read("farmland")
    coords = shapely.get_coordinates(shapely.segmentize(frame.geometry.to_numpy(), 0.0005))
    _, _, dist = GEOD.inv(
        np.full(len(coords), CITY_GOV[0]), np.full(len(coords), CITY_GOV[1]), coords[:, 0], coords[:, 1]
    )
    assert dist.min() >= 8000.0
    assert not frame.geometry.contains(Point(CITY_GOV)).any()


def test_old_communities(store: GeoPackageStore) -> None:
    frame = store.read("old-communities")
    hectares = _geodesic_mu(frame.geometry) * MU_M2 / 10_000
    assert hectares.min() >= 0.95 and hectares.max() <= 6.05
    left, right = shapely.STRtree(frame.geometry.to_numpy()).query(frame.geometry.to_numpy(), predicate="intersects")
    assert (left == right).all(), "communities overlap"
    assert (frame["build_year"] < 2000).all() and (frame["build_year"].between(1980, 1999).mean() > 0.8)
    assert frame["buildings"].between(2, 12).all() and frame["households"].between(90, 600).all()
    assert (frame["households"] / frame["buildings"]).between(40, 60).all()
    assert (frame["floor_area_wan_m2"] * 10_000 / frame["households"]).between(69, 111).all()
    assert set(frame["renovation_class"]) <= {"基础类", "完善类", "提升类"}
    assert frame["county"].isin(["430302", "430304"]).mean() > 0.7


def test_reservoirs(store: GeoPackageStore) -> None:
    frame = store.read("reservoirs")
    ranges = {"小(2)型": (10, 100), "小(1)型": (100, 1000), "中型": (1000, 10000)}
    for size, (low, high) in ranges.items():
        assert frame.loc[frame["size_class"] == size, "storage_wan_m3"].between(low, high).all()
    assert (frame["size_class"] == "中型").sum() <= 3
    assert (frame["safety_class"] == "三类坝").all()
    real = ("花石", "红日", "南海", "新塘", "石罗冲", "坳头", "白云栗山", "青沟", "青年", "水府庙")
    assert not frame["name"].str.contains("|".join(real)).any()
    assert frame["county"].isin(["430302", "430321", "430381", "430382"]).all()
    assert 20 <= (frame["status"] == "completed").sum() <= 24


def test_water_sections_replay_their_readings(store: GeoPackageStore) -> None:
    frame = store.read("water-sections").set_index("id")
    history = store.history("water-sections")
    assert len(history) == 14 * 12
    assert not frame["name"].isin(["泥湾村", "水府庙水库库心"]).any()
    assert (frame["target_class"] == "III").all()
    lakes = {"九华湖公园", "青年水库"}
    for fid, rows in history.groupby("feature_id"):
        section = frame.loc[fid]
        body = "lake" if section["name"] in lakes else "river"
        readings = [json.loads(d) for d in rows["data"]]
        classes = [classify(r, body) for r in readings]
        assert classes == [r["class"] for r in readings]
        statuses = ["compliant" if is_compliant(c, "III") else "non_compliant" for c in classes]
        assert rows["status"].tolist() == statuses
        assert [d[5:] for d in rows["date"]] == [f"{m:02d}-25" for m in range(1, 13)]
        assert section["latest_class"] == classes[-1] and section["status"] == statuses[-1]
        assert section["latest_month"] == "2025-12"
        assert section["months_noncompliant"] == statuses.count("non_compliant")
    assert frame.loc[frame["name"] == "九华湖公园", "months_noncompliant"].item() >= 1
    assert frame["latest_class"].isin(["I", "II", "III"]).mean() >= 0.8


def test_bridge_and_road(store: GeoPackageStore, counties: gpd.GeoDataFrame) -> None:
    frame = store.read("transport-links").set_index("name")
    bridge = frame.loc["下摄司大桥"]
    opening = next(m for m in bridge["milestones"] if m["name"] == "建成通车")
    assert opening["due"] == "2025-06-30" and bridge["due_date"] == "2025-06-30"
    assert bridge["lanes"] == 6
    line = bridge.geometry.geoms[0]
    assert counties.loc["430304"].geometry.contains(Point(line.coords[0]))
    assert counties.loc["430321"].geometry.contains(Point(line.coords[-1]))
    for name, km in (("下摄司大桥", 4.1), ("G320湘潭绕城线(湘乡段)", 17.398)):
        assert GEOD.geometry_length(frame.loc[name].geometry) / 1000 == pytest.approx(km, abs=0.05)
        assert frame.loc[name, "length_km"] == pytest.approx(km, abs=0.05)


def test_hubs_and_milestones(store: GeoPackageStore) -> None:
    hubs = store.read("logistics-hubs").set_index("name")
    assert {"长株潭公路港物流园", "湘潭东铁路货场", "九华通用机场"} <= set(hubs.index)
    assert _geodesic_mu(gpd.GeoSeries([hubs.loc["九华通用机场"].geometry]))[0] == pytest.approx(2700, rel=0.02)
    np.testing.assert_allclose(hubs["area_mu"], _geodesic_mu(hubs.geometry), atol=0.1)
    for layer_id in ("logistics-hubs", "transport-links"):
        for milestones, status in store.read(layer_id)[["milestones", "status"]].itertuples(index=False):
            assert all(set(m) == {"name", "due", "done"} for m in milestones)
            assert (status == "completed") == all(m["done"] for m in milestones)


def _replay(rows: pd.DataFrame) -> dict[str, object]:
    started = rows.loc[rows["status"] != "planned", "date"]
    completed = rows.loc[rows["status"] == "completed", "date"]
    last = rows.iloc[-1]
    return {
        "status": last["status"],
        "progress_pct": last["percent"],
        "updated_at": last["date"],
        "start_date": started.iloc[0] if len(started) else None,
        "completed_date": completed.iloc[0] if last["status"] == "completed" else None,
    }


def test_current_columns_equal_the_replayed_history(store: GeoPackageStore, registry: LayerRegistry) -> None:
    for layer_id in _project_ids(registry):
        frame = store.read(layer_id).set_index("id")
        history = store.history(layer_id)
        assert set(history["feature_id"]) == set(frame.index), layer_id
        for fid, rows in history.groupby("feature_id", sort=False):
            assert frame.loc[fid, CURRENT].to_dict() == _replay(rows), (layer_id, fid)


def test_histories_rise_and_stay_in_the_plan_year(store: GeoPackageStore, registry: LayerRegistry) -> None:
    order = {"planned": 0, "in_progress": 1, "completed": 2}
    history = store.history()
    assert (history["author"] == "demo").all() and history["note"].str.len().gt(0).all()
    projects = history[history["layer"] != "water-sections"]
    for (_layer, _fid), rows in projects.groupby(["layer", "feature_id"]):
        assert rows["percent"].is_monotonic_increasing
        assert rows["status"].map(order).is_monotonic_increasing
        early = rows[rows["date"] < "2025-01-01"]
        # Only a carried-over project's start (or a real earlier milestone of 下摄司大桥) predates 2025.
        assert (early["status"] == "in_progress").all()
        assert len(early) <= 2 and (len(early) < 2 or _fid == "TL-01")
    assert history["date"].max() <= "2025-12-31"


def test_some_projects_are_late(store: GeoPackageStore, registry: LayerRegistry) -> None:
    frames = [store.read(layer_id) for layer_id in _project_ids(registry) if layer_id != "water-sections"]
    frame = pd.concat(frames)
    done = frame[frame["status"] == "completed"]
    finished_late = done["completed_date"] > done["due_date"]
    overdue = (frame["status"] != "completed") & (frame["due_date"] <= "2025-12-31")
    assert finished_late.sum() >= 10 and overdue.sum() >= 10


def test_end_of_year_progress_and_burn_up(store: GeoPackageStore, registry: LayerRegistry) -> None:
    farmland = registry.get("farmland")
    year_end = layer_progress(store, farmland, as_of=date(2025, 12, 31))
    assert 85.0 <= year_end.pct <= 105.0  # type: ignore[operator]
    assert year_end.done == pytest.approx(layer_progress(store, farmland).done)
    for layer_id in _project_ids(registry):
        if layer_id == "water-sections":  # compliance may come and go; only project layers burn up
            continue
        monthly = [layer_progress(store, registry.get(layer_id), as_of=date(2025, m, 28)).done for m in range(1, 13)]
        assert monthly == sorted(monthly), layer_id
    communities = [
        layer_progress(store, registry.get("old-communities"), as_of=date(2025, m, 28)).done for m in (3, 6, 9, 12)
    ]
    assert communities[0] < communities[1] < communities[2] < communities[3]


def test_same_seed_same_data_other_seed_other_data(builds: dict[str, Built], registry: LayerRegistry) -> None:
    main, same, other = (builds[k].store for k in ("main", "same", "other"))
    for layer in registry:
        assert_geodataframe_equal(main.read(layer.id), same.read(layer.id), check_less_precise=False)
    columns = ["layer", "feature_id", "date", "status", "percent", "note", "author", "data", "is_demo"]
    pd.testing.assert_frame_equal(main.history()[columns], same.history()[columns])
    assert main.read("farmland")["area_mu"].tolist() != other.read("farmland")["area_mu"].tolist()
    assert not main.history()[columns].equals(other.history()[columns])
    assert_geodataframe_equal(main.read("counties"), other.read("counties"))


def test_building_into_a_store_with_history_fails(store: GeoPackageStore, registry: LayerRegistry) -> None:
    with pytest.raises(ValueError, match="already holds progress history"):
        build_demo(store, registry)
