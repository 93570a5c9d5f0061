"""Nearby projects on the demo data, checked against pyproj.Geod on nearest points found by densifying."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

import pyproj
import shapely

from geo.crs import from_wgs84
from geo.spatial_index import SpatialIndex, envelope_distance_lower_m, search_box
from geo.storage.base import HistoryEntry
from geo.storage.gpkg import GeoPackageStore
from layers.errors import InvalidQueryParameter, UnknownLayer
from layers.nearby import find_nearby, resolve_layers

GEOD = pyproj.Geod(ellps="WGS84")
CITY_HALL = (112.9454, 27.8313)


@pytest.fixture(scope="module")
def store(demo_store):
    return demo_store


def brute_force(lon: float, lat: float, geom) -> tuple[float, float]:
    """Distance and azimuth to the nearest vertex of the geometry densified to ~0.5 m (0 inside)."""
    if geom.geom_type in ("Polygon", "MultiPolygon") and geom.covers(shapely.Point(lon, lat)):
        return 0.0, 0.0
    edge = geom.boundary if geom.geom_type in ("Polygon", "MultiPolygon") else geom
    coords = shapely.get_coordinates(shapely.segmentize(edge, 5e-6))
    az, _, dist = GEOD.inv(np.full(len(coords), lon), np.full(len(coords), lat), coords[:, 0], coords[:, 1])
    k = int(np.argmin(dist))
    return float(dist[k]), float(az[k] % 360)


def all_within(store, registry, lon, lat, radius):
    """Every project feature's brute-force distance, for features within ``radius`` (a full scan)."""
    out = {}
    for layer in registry.projects():
        frame = store.read(layer.id)
        for fid, geom in zip(frame["id"], frame.geometry, strict=True):
            dist, az = brute_force(lon, lat, geom)
            if dist <= radius:
                out[(layer.id, fid)] = (dist, az)
    return out


@pytest.mark.parametrize("point", [CITY_HALL, (112.9455, 27.7826), (112.52, 27.75)])
def test_nearby_matches_brute_force_geodesic_distances(store, registry, point):
    lon, lat = point
    radius = 6000
    result = find_nearby(store, registry.projects(), lon, lat, radius, limit=1000)
    expected = all_within(store, registry, lon, lat, radius)
    got = {(p.layer, p.id): p for p in result.projects}
    assert result.count == len(result.projects) > 0
    # The same features, except any within a metre of the radius where densification may disagree.
    assert {k for k, v in expected.items() if v[0] < radius - 1} <= set(got)
    assert set(got) <= set(expected) | {k for k, p in got.items() if p.distance_m > radius - 1}
    for key, project in got.items():
        dist, az = expected.get(key, (project.distance_m, project.bearing_deg))
        assert project.distance_m == pytest.approx(dist, abs=1.0)
        if dist > 50:
            assert abs((project.bearing_deg - az + 180) % 360 - 180) < 1.0
    distances = [p.distance_m for p in result.projects]
    assert distances == sorted(distances)


def test_point_inside_a_polygon_is_at_distance_zero(store, registry):
    farm = store.read("farmland", limit=1).iloc[0]
    inside = farm.geometry.representative_point()
    result = find_nearby(store, [registry.get("farmland")], inside.x, inside.y, 10, limit=5)
    first = result.projects[0]
    assert (first.id, first.distance_m, first.bearing_deg) == (farm["id"], 0.0, 0.0)
    assert first.status == farm["status"] and first.name == farm["name"]


@pytest.mark.parametrize("coordsys", ["gcj02", "bd09"])
def test_shifted_input_gives_the_wgs84_answer(store, registry, coordsys):
    wgs = find_nearby(store, registry.projects(), *CITY_HALL, 3000, limit=200)
    x, y = from_wgs84(*CITY_HALL, coordsys)
    shifted = find_nearby(store, registry.projects(), float(x), float(y), 3000, coordsys=coordsys, limit=200)
    assert shifted.lon == pytest.approx(CITY_HALL[0], abs=1e-5) and shifted.lat == pytest.approx(CITY_HALL[1], abs=1e-5)
    assert shifted.input == {"lon": float(x), "lat": float(y), "coordsys": coordsys}
    assert [p.id for p in shifted.projects] == [p.id for p in wgs.projects]
    for a, b in zip(shifted.projects, wgs.projects, strict=True):
        assert a.distance_m == pytest.approx(b.distance_m, abs=1.0)
    # The unconverted GCJ-02 point is ~650 m off: it would give a different answer.
    raw = find_nearby(store, registry.projects(), float(x), float(y), 3000, limit=200)
    assert [p.distance_m for p in raw.projects] != [p.distance_m for p in wgs.projects]


def test_layers_limit_and_href(store, registry):
    layers = resolve_layers(registry, ["reservoirs", "road-junctions"])
    result = find_nearby(store, layers, *CITY_HALL, 50_000, limit=7, href_template="/c/{layer}/items/{id}")
    assert result.count == 7 and {p.layer for p in result.projects} <= {"reservoirs", "road-junctions"}
    assert all(p.href == f"/c/{p.layer}/items/{p.id}" for p in result.projects)
    assert result.layers == ["reservoirs", "road-junctions"]


def test_index_rebuilds_when_the_data_version_changes(writable_gpkg, registry):
    layer = registry.get("reservoirs")
    with GeoPackageStore(writable_gpkg) as store:
        first = find_nearby(store, [layer], *CITY_HALL, 50_000, limit=1).projects[0]
        assert find_nearby(store, [layer], *CITY_HALL, 50_000, limit=1).projects[0] == first
        new_status = "completed" if first.status != "completed" else "in_progress"
        entry = HistoryEntry("reservoirs", first.id, date(2025, 12, 30), new_status, 100.0)
        store.record_progress(entry, {"status": new_status, "progress_pct": 100.0})
        again = find_nearby(store, [layer], *CITY_HALL, 50_000, limit=1).projects[0]
        assert (again.id, again.status, again.progress_pct) == (first.id, new_status, 100.0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"radius_m": 0}, "radius_m"),
        ({"radius_m": 50_001}, "radius_m"),
        ({"lon": 181.0}, "lon"),
        ({"lat": -91.0}, "lat"),
        ({"coordsys": "utm"}, "coordsys"),
        ({"limit": 0}, "limit"),
    ],
)
def test_bad_parameters_name_the_parameter(store, registry, kwargs, name):
    args = {"lon": CITY_HALL[0], "lat": CITY_HALL[1], "radius_m": 1000, **kwargs}
    with pytest.raises(InvalidQueryParameter, match=name):
        find_nearby(store, registry.projects(), **args)


def test_resolve_layers(registry):
    assert [layer.id for layer in resolve_layers(registry, [])] == [layer.id for layer in registry.projects()]
    with pytest.raises(UnknownLayer):
        resolve_layers(registry, ["nope"])
    with pytest.raises(InvalidQueryParameter, match="counties"):
        resolve_layers(registry, ["counties"])


@pytest.mark.parametrize("lat", [0.0, 27.8, 60.0, -45.0])
def test_search_box_and_envelope_bound_never_drop_a_true_hit(lat):
    rng = np.random.default_rng(5)
    for radius in (1.0, 500.0, 50_000.0):
        az = rng.uniform(0, 360, 500)
        lon2, lat2, _ = GEOD.fwd(np.full(500, 112.9), np.full(500, lat), az, np.full(500, radius * 0.999))
        minx, miny, maxx, maxy = search_box(112.9, lat, radius)
        assert ((lon2 >= minx) & (lon2 <= maxx) & (lat2 >= miny) & (lat2 <= maxy)).all()
        points = np.column_stack([lon2, lat2, lon2, lat2])
        assert (envelope_distance_lower_m(112.9, lat, points, radius) <= radius).all()


def test_spatial_index_on_hand_made_geometries():
    square = shapely.box(112.90, 27.80, 112.91, 27.81)
    line = shapely.LineString([(112.92, 27.80), (112.92, 27.82)])
    index = SpatialIndex([square, line, shapely.Point(113.5, 28.5), None])
    hits = index.within(112.915, 27.805, 1000)
    assert hits.index.tolist() == [0, 1]  # the square's east edge and the line are both ~493 m away
    expected = [GEOD.inv(112.915, 27.805, 112.91, 27.805)[2], GEOD.inv(112.915, 27.805, 112.92, 27.805)[2]]
    assert hits.distance_m == pytest.approx(expected, abs=0.01)
    assert hits.bearing_deg == pytest.approx([270.0, 90.0], abs=0.01)
    assert index.within(112.905, 27.805, 1).index.tolist() == [0]
    assert index.within(112.0, 27.0, 1000).index.size == 0
