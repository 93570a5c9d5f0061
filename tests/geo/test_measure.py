"""Tests for geo.measure: geodesic areas, lengths, distances and bearings."""

from collections.abc import Callable

import numpy as np
import pytest

import geopandas as gpd
import pyproj
from shapely import LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from geo import crs, measure

CITY_GOV = (112.9454, 27.8313)
CITY_BBOX = (111.9942, 27.3414, 113.0854, 28.0769)
GEOD = pyproj.Geod(ellps="WGS84")
SquareBuilder = Callable[..., BaseGeometry]


@pytest.fixture
def gk_square() -> SquareBuilder:
    """Return a lon/lat builder of squares drawn in EPSG:4547 around the city government."""
    e, n = (float(v) for v in crs.transform_xy(*CITY_GOV, crs.WGS84, crs.GK_CM114))

    def build(half_m: float = 500.0, dx: float = 0.0, dy: float = 0.0) -> BaseGeometry:
        square = box(e + dx - half_m, n + dy - half_m, e + dx + half_m, n + dy + half_m)
        return crs.transform_geometry(square, crs.GK_CM114, crs.WGS84)

    return build


def _gk_point(dx: float, dy: float) -> tuple[float, float]:
    e, n = crs.transform_xy(*CITY_GOV, crs.WGS84, crs.GK_CM114)
    lon, lat = crs.transform_xy(float(e) + dx, float(n) + dy, crs.GK_CM114, crs.WGS84)
    return float(lon), float(lat)


def test_unit_conversions() -> None:
    assert measure.MU_M2 == pytest.approx(666.6666667)
    assert measure.m2_to_mu(1e6) == pytest.approx(1500.0)
    assert measure.m2_to_ha(1e6) == pytest.approx(100.0)
    assert measure.mu_to_m2(15.0) == pytest.approx(measure.HECTARE_M2)
    np.testing.assert_allclose(measure.m2_to_mu(np.array([0.0, 666.6666666666666])), [0.0, 1.0])


def test_one_square_kilometre_in_gk_is_1500_mu(gk_square: SquareBuilder) -> None:
    square = gk_square()
    area = measure.geodesic_area_m2(square)
    assert area.shape == ()
    assert float(area) == pytest.approx(1e6, rel=0.005)
    assert float(measure.area_mu(square)) == pytest.approx(1500, rel=0.005)
    assert float(measure.geodesic_length_m(square)) == pytest.approx(4000, rel=0.005)


def test_area_and_length_match_pyproj_and_ignore_orientation(gk_square: SquareBuilder) -> None:
    square = gk_square()
    expected_area, expected_perimeter = GEOD.geometry_area_perimeter(square)
    areas = measure.geodesic_area_m2([square, square.reverse()])
    np.testing.assert_allclose(areas, [abs(expected_area)] * 2, rtol=1e-12)
    lengths = measure.geodesic_length_m([square, square.reverse()])
    np.testing.assert_allclose(lengths, [expected_perimeter] * 2, rtol=1e-12)


def test_web_mercator_overstates_xiangtan_area() -> None:
    city = box(*CITY_BBOX)
    geodesic = float(measure.geodesic_area_m2(city))
    mercator = crs.transform_geometry(city, crs.WGS84, crs.WEB_MERCATOR).area
    assert 1.25 <= mercator / geodesic <= 1.31


def test_holes_are_subtracted_and_parts_summed(gk_square: SquareBuilder) -> None:
    outer, hole = gk_square(500.0), gk_square(100.0)
    with_hole = Polygon(outer.exterior.coords, [hole.exterior.coords])
    hole_same_orientation = Polygon(outer.exterior.coords, [hole.reverse().exterior.coords])
    far = gk_square(100.0, dx=5000.0)
    areas = measure.geodesic_area_m2(
        gpd.GeoSeries([with_hole, hole_same_orientation, MultiPolygon([outer, far])], crs=4326)
    )
    outer_m2, hole_m2, far_m2 = (float(measure.geodesic_area_m2(g)) for g in (outer, hole, far))
    assert hole_m2 == pytest.approx(4e4, rel=0.005)
    np.testing.assert_allclose(areas, [outer_m2 - hole_m2, outer_m2 - hole_m2, outer_m2 + far_m2], rtol=1e-12)
    perimeter = float(measure.geodesic_length_m(with_hole))
    assert perimeter == pytest.approx(4000 + 800, rel=0.005)  # holes count toward the perimeter


def test_points_lines_and_missing() -> None:
    line = LineString([(112.9, 27.8), (112.9, 27.9), (113.0, 27.9)])
    expected_length = GEOD.line_length(*line.xy)
    areas = measure.geodesic_area_m2([Point(CITY_GOV), line, None, Polygon()])
    lengths = measure.geodesic_length_m([Point(CITY_GOV), line, None, Polygon()])
    np.testing.assert_array_equal(areas, [0.0, 0.0, np.nan, 0.0])
    np.testing.assert_allclose(lengths, [0.0, expected_length, np.nan, 0.0], rtol=1e-12)
    assert measure.geodesic_area_m2([]).shape == (0,)


def test_distance_and_bearing_cardinal_directions() -> None:
    lon, lat = CITY_GOV
    assert float(measure.bearing_deg(lon, lat, lon, lat + 0.01)) == pytest.approx(0.0, abs=1e-9)
    assert float(measure.bearing_deg(lon, lat, lon + 0.01, lat)) == pytest.approx(90.0, abs=0.01)
    assert float(measure.bearing_deg(lon, lat, lon, lat - 0.01)) == pytest.approx(180.0, abs=1e-9)
    assert float(measure.bearing_deg(lon, lat, lon - 0.01, lat)) == pytest.approx(270.0, abs=0.01)
    assert float(measure.geodesic_distance_m(lon, lat, lon, lat + 0.01)) == pytest.approx(1108.3, abs=0.5)


def test_distance_and_bearing_vectorised_match_geod() -> None:
    rng = np.random.default_rng(7)
    lon1, lon2 = rng.uniform(111.99, 113.09, (2, 200))
    lat1, lat2 = rng.uniform(27.34, 28.08, (2, 200))
    az, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    np.testing.assert_allclose(measure.geodesic_distance_m(lon1, lat1, lon2, lat2), dist, rtol=1e-12)
    bearings = measure.bearing_deg(lon1, lat1, lon2, lat2)
    assert np.all((bearings >= 0) & (bearings < 360))
    np.testing.assert_allclose(bearings, np.mod(az, 360), rtol=1e-12)
    broadcast = measure.geodesic_distance_m(lon1[0], lat1[0], lon2, lat2)
    assert broadcast.shape == (200,)
    assert broadcast[3] == pytest.approx(float(measure.geodesic_distance_m(lon1[0], lat1[0], lon2[3], lat2[3])))


def test_distance_to_polygon_is_to_its_edge(gk_square: SquareBuilder) -> None:
    square = gk_square(500.0)
    lon, lat = _gk_point(1000.0, 0.0)  # 500 m east of the east edge, 1000 m from the centre
    dist, near_lon, near_lat = measure.distance_to_geometry_m(lon, lat, square)
    assert dist == pytest.approx(500.0, abs=1.0)
    expected_lon, expected_lat = _gk_point(500.0, 0.0)
    assert float(measure.geodesic_distance_m(near_lon, near_lat, expected_lon, expected_lat)) < 0.5
    assert GEOD.inv(lon, lat, near_lon, near_lat)[2] == pytest.approx(dist, abs=1e-6)


def test_distance_inside_polygon_is_zero(gk_square: SquareBuilder) -> None:
    square = gk_square(500.0)
    lon, lat = _gk_point(200.0, -300.0)
    assert measure.distance_to_geometry_m(lon, lat, square) == (0.0, lon, lat)
    dist, near_lon, _ = measure.distance_to_geometry_m(lon, lat, square.exterior)  # a ring is not an area
    assert dist == pytest.approx(200.0, abs=1.0) and near_lon > lon


def test_distance_to_lines_and_points() -> None:
    lon, lat = CITY_GOV
    north_south = LineString([(lon + 0.01, lat - 0.05), (lon + 0.01, lat + 0.05)])
    dist, near_lon, near_lat = measure.distance_to_geometry_m(lon, lat, north_south)
    assert near_lon == pytest.approx(lon + 0.01)
    assert near_lat == pytest.approx(lat, abs=1e-5)
    assert dist == pytest.approx(GEOD.inv(lon, lat, lon + 0.01, lat)[2], abs=0.5)
    target = (lon + 0.1, lat + 0.1)
    dist, near_lon, near_lat = measure.distance_to_geometry_m(lon, lat, Point(target))
    assert (near_lon, near_lat) == pytest.approx(target, abs=1e-9)
    assert dist == pytest.approx(GEOD.inv(lon, lat, *target)[2], rel=1e-9)


def test_distances_to_geometries_agree_with_scalar(gk_square: SquareBuilder) -> None:
    lon, lat = _gk_point(1000.0, 0.0)
    geoms = [
        gk_square(500.0),
        gk_square(2000.0),  # contains the point
        gk_square(100.0, dx=1000.0, dy=3000.0),  # due north
        LineString([(lon - 0.2, lat - 0.1), (lon + 0.2, lat - 0.1)]),  # due south, ~11 km
        Point(lon + 0.05, lat),
        None,
        Polygon(),
    ]
    dists, bearings = measure.distances_to_geometries_m(lon, lat, gpd.GeoSeries(geoms, crs=4326))
    assert dists.shape == bearings.shape == (7,)
    for i, geom in enumerate(geoms[:5]):
        dist, near_lon, near_lat = measure.distance_to_geometry_m(lon, lat, geom)
        assert dists[i] == pytest.approx(dist, abs=1e-6)
        if dist > 0:
            assert bearings[i] == pytest.approx(np.mod(GEOD.inv(lon, lat, near_lon, near_lat)[0], 360), abs=1e-6)
    assert dists[0] == pytest.approx(500.0, abs=1.0) and bearings[0] == pytest.approx(270.0, abs=1.0)
    assert dists[1] == 0.0 and bearings[1] == 0.0
    # GK grid north is about 0.5 degrees east of true north here (meridian convergence), hence ~359.5.
    assert dists[2] == pytest.approx(2900.0, abs=2.0) and min(bearings[2], 360 - bearings[2]) < 1.0
    assert dists[3] == pytest.approx(11_080, rel=0.01) and bearings[3] == pytest.approx(180.0, abs=0.1)
    assert bearings[4] == pytest.approx(90.0, abs=0.1)
    assert np.isnan(dists[5:]).all() and np.isnan(bearings[5:]).all()


def test_distances_to_geometries_pairwise_points(gk_square: SquareBuilder) -> None:
    square = gk_square(500.0)
    points = [_gk_point(0.0, 0.0), _gk_point(1000.0, 0.0), (CITY_GOV[0] + 0.5, CITY_GOV[1])]
    lons, lats = np.array(points).T
    dists, _ = measure.distances_to_geometries_m(lons, lats, [square])
    assert dists.shape == (3,)
    expected = [measure.distance_to_geometry_m(lon, lat, square)[0] for lon, lat in points]
    np.testing.assert_allclose(dists, expected, rtol=1e-12, atol=1e-9)
    assert dists[0] == 0.0 and dists[2] > 45_000
