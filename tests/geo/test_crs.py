"""Tests for geo.crs: CRS parsing, Gauss-Krüger zones, transformers and GCJ-02/BD-09 conversion."""

import math

import numpy as np
import pytest

import geopandas as gpd
import pyproj
from shapely import LineString, Point, Polygon

from geo import crs
from geo.errors import CRSMismatchError, InvalidBBox, InvalidCRS
from geo.measure import geodesic_distance_m

CITY_GOV = (112.9454, 27.8313)  # Xiangtan municipal government, WGS84
CITY_BBOX = (111.9942, 27.3414, 113.0854, 28.0769)


@pytest.fixture
def xiangtan_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20250101)
    minx, miny, maxx, maxy = CITY_BBOX
    return rng.uniform(minx, maxx, 1000), rng.uniform(miny, maxy, 1000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", ("OGC", "CRS84")),
        ("CRS84", ("OGC", "CRS84")),
        ("OGC:CRS84", ("OGC", "CRS84")),
        ("http://www.opengis.net/def/crs/EPSG/0/4490", ("EPSG", "4490")),
        ("EPSG:4547", ("EPSG", "4547")),
        ("epsg:4546", ("EPSG", "4546")),
        ("3857", ("EPSG", "3857")),
        (" 4326 ", ("EPSG", "4326")),
    ],
)
def test_parse_crs_accepts_supported_spellings(value: str, expected: tuple[str, str]) -> None:
    assert crs.parse_crs(value).to_authority() == expected


@pytest.mark.parametrize(
    "value", ["EPSG:32649", "4526", "http://www.opengis.net/def/crs/EPSG/0/2000", "WGS84", "", "EPSG:abc"]
)
def test_parse_crs_rejects_unsupported(value: str) -> None:
    with pytest.raises(InvalidCRS, match="unsupported crs") as info:
        crs.parse_crs(value)
    assert "http://www.opengis.net/def/crs/EPSG/0/4490" in str(info.value)


def test_supported_output_crs_round_trips_through_uri() -> None:
    assert len(crs.SUPPORTED_OUTPUT_CRS) == 6
    for uri, code in crs.SUPPORTED_OUTPUT_CRS.items():
        assert crs.crs_uri(code) == uri
        assert crs.crs_uri(crs.parse_crs(uri)) == uri


def test_crs_uri_rejects_crs_without_epsg_code() -> None:
    with pytest.raises(InvalidCRS, match="no EPSG code"):
        crs.crs_uri("+proj=aeqd +lat_0=27 +lon_0=112 +datum=WGS84")
    with pytest.raises(InvalidCRS, match="cannot interpret"):
        crs.crs_uri("not a crs")


def test_get_transformer_is_cached_and_lon_lat_ordered() -> None:
    first = crs.get_transformer(crs.WGS84, crs.GK_CM114)
    assert crs.get_transformer(crs.WGS84, crs.GK_CM114) is first
    easting, northing = first.transform(*CITY_GOV)
    assert easting < 500_000 < northing  # (x, y) out, although EPSG:4547 declares northing first


def test_known_gauss_kruger_coordinates_of_city_government() -> None:
    e, n = crs.transform_xy(*CITY_GOV, crs.WGS84, crs.GK_CM114)
    assert float(e) == pytest.approx(396103.14, abs=0.05)
    assert float(n) == pytest.approx(3080193.18, abs=0.05)
    e111, _ = crs.transform_xy(*CITY_GOV, crs.CGCS2000, crs.GK_CM111)
    assert float(e111) == pytest.approx(691671.28, abs=0.05)
    lon, lat = crs.transform_xy(e, n, crs.GK_CM114, crs.WGS84)
    assert (float(lon), float(lat)) == pytest.approx(CITY_GOV, abs=1e-9)


def test_cgcs2000_to_wgs84_moves_nothing(xiangtan_points: tuple[np.ndarray, np.ndarray]) -> None:
    lon, lat = xiangtan_points
    out_lon, out_lat = crs.transform_xy(lon, lat, crs.CGCS2000, crs.WGS84)
    assert out_lon.shape == lon.shape
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)


def test_crs84_and_4326_both_take_lon_lat() -> None:
    via_crs84 = crs.transform_xy(*CITY_GOV, crs.CRS84, crs.WEB_MERCATOR)
    via_4326 = crs.transform_xy(*CITY_GOV, crs.WGS84, crs.WEB_MERCATOR)
    assert float(via_crs84[0]) == pytest.approx(float(via_4326[0]))
    assert float(via_crs84[0]) == pytest.approx(6378137 * math.radians(CITY_GOV[0]))  # x is the longitude


def test_transform_geometry_keeps_shape_and_order() -> None:
    line = LineString([CITY_GOV, (113.0, 27.9)])
    projected = crs.transform_geometry(line, crs.WGS84, crs.GK_CM114)
    assert projected.geom_type == "LineString"
    assert projected.coords[0] == pytest.approx((396103.14, 3080193.18), abs=0.05)
    back = crs.transform_geometry(projected, crs.GK_CM114, crs.WGS84)
    assert back.equals_exact(line, 1e-9)


def test_to_crs_requires_a_source_crs() -> None:
    frame = gpd.GeoDataFrame({"name": ["gov"]}, geometry=[Point(CITY_GOV)], crs=4326)
    projected = crs.to_crs(frame, crs.GK_CM114)
    assert projected.crs.to_epsg() == 4547
    assert projected.geometry.iloc[0].x == pytest.approx(396103.14, abs=0.05)
    with pytest.raises(CRSMismatchError, match="no CRS"):
        crs.to_crs(frame.set_crs(None, allow_override=True), crs.GK_CM114)


@pytest.mark.parametrize(
    ("lon", "epsg", "central_meridian"),
    [
        (112.3, 4546, 111),
        (112.9, 4547, 114),
        (112.5, 4547, 114),
        (112.4999, 4546, 111),
        (115.5, 4548, 117),
        (73.5, 4534, 75),
        (136.4, 4554, 135),
    ],
)
def test_gk_zone_epsg(lon: float, epsg: int, central_meridian: int) -> None:
    assert crs.gk_zone_epsg(lon) == epsg
    assert pyproj.CRS.from_epsg(epsg).name == f"CGCS2000 / 3-degree Gauss-Kruger CM {central_meridian}E"


@pytest.mark.parametrize("lon", [10.0, 73.4, 136.5, float("nan")])
def test_gk_zone_epsg_outside_china(lon: float) -> None:
    with pytest.raises(InvalidCRS, match="outside"):
        crs.gk_zone_epsg(lon)


def test_gk_zone_for_bounds_uses_centre_longitude() -> None:
    assert crs.gk_zone_for_bounds(CITY_BBOX) == crs.GK_CM114  # centre 112.54E, just east of 112.5E
    assert crs.gk_zone_for_bounds((112.0, 27.5, 112.4, 27.9)) == crs.GK_CM111  # 湘乡
    with pytest.raises(InvalidBBox):
        crs.gk_zone_for_bounds((113.0, 27.0, 112.0, 28.0))


def test_gcj02_offset_at_city_government() -> None:
    glon, glat = crs.wgs84_to_gcj02(*CITY_GOV)
    assert 0.0054 <= float(glon) - CITY_GOV[0] <= 0.0059
    assert -0.0035 <= float(glat) - CITY_GOV[1] <= -0.0032
    assert 650 <= float(geodesic_distance_m(*CITY_GOV, glon, glat)) <= 675


def test_gcj02_offset_over_xiangtan(xiangtan_points: tuple[np.ndarray, np.ndarray]) -> None:
    # Over the whole box (incl. western 湘乡) the offset spreads a little wider than at the city centre.
    lon, lat = xiangtan_points
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    assert glon.shape == lon.shape
    assert np.all((glon - lon > 0.0052) & (glon - lon < 0.0059))
    assert np.all((glat - lat > -0.0036) & (glat - lat < -0.0030))
    shift = geodesic_distance_m(lon, lat, glon, glat)
    assert shift.min() > 640 and shift.max() < 680


def test_forward_formulas_match_published_pair() -> None:
    # Example printed in wandergis/coordTransform_py README.md for input (128.543, 37.065).
    assert tuple(map(float, crs.wgs84_to_gcj02(128.543, 37.065))) == pytest.approx(
        (128.54820547949757, 37.065651049489816), abs=1e-12
    )
    assert tuple(map(float, crs.gcj02_to_bd09(128.543, 37.065))) == pytest.approx(
        (128.54944656269413, 37.07113427883019), abs=1e-12
    )
    assert tuple(map(float, crs.wgs84_to_bd09(128.543, 37.065))) == pytest.approx(
        (128.55468192918485, 37.07168344938498), abs=1e-12
    )


def test_gcj02_inverse_round_trip_is_exact(xiangtan_points: tuple[np.ndarray, np.ndarray]) -> None:
    lon, lat = xiangtan_points
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    wlon, wlat = crs.gcj02_to_wgs84(glon, glat)
    assert geodesic_distance_m(lon, lat, wlon, wlat).max() < 0.01
    again_lon, again_lat = crs.wgs84_to_gcj02(wlon, wlat)
    assert np.abs(again_lon - glon).max() < 1e-7 and np.abs(again_lat - glat).max() < 1e-7


def test_naive_one_step_inverse_is_not_enough(xiangtan_points: tuple[np.ndarray, np.ndarray]) -> None:
    lon, lat = xiangtan_points
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    naive_lon, naive_lat = crs.gcj02_to_wgs84(glon, glat, max_iter=1)
    fwd_lon, fwd_lat = crs.wgs84_to_gcj02(glon, glat)
    np.testing.assert_allclose(naive_lon, 2 * glon - fwd_lon, rtol=0, atol=1e-12)  # max_iter=1 is the snippet
    np.testing.assert_allclose(naive_lat, 2 * glat - fwd_lat, rtol=0, atol=1e-12)
    assert geodesic_distance_m(lon, lat, naive_lon, naive_lat).max() > 0.1


def test_gcj02_to_wgs84_accepts_scalars() -> None:
    lon, lat = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(*CITY_GOV))
    assert lon.shape == () and lat.shape == ()
    assert (float(lon), float(lat)) == pytest.approx(CITY_GOV, abs=1e-9)


def test_bd09_offset_and_round_trips(xiangtan_points: tuple[np.ndarray, np.ndarray]) -> None:
    lon, lat = xiangtan_points
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    shift = geodesic_distance_m(lon, lat, blon, blat)
    assert shift.min() > 1100 and shift.max() < 1300
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = crs.bd09_to_gcj02(*crs.gcj02_to_bd09(glon, glat))
    assert geodesic_distance_m(glon, glat, back_lon, back_lat).max() < 0.1
    wlon, wlat = crs.bd09_to_wgs84(blon, blat)
    assert geodesic_distance_m(lon, lat, wlon, wlat).max() < 0.01


def test_out_of_china_is_identity() -> None:
    lon, lat = np.array([2.35, -74.0, 151.2, 112.9454]), np.array([48.85, 40.7, -33.9, 27.8313])
    np.testing.assert_array_equal(crs.out_of_china(lon, lat), [True, True, True, False])
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(glon[:3], lon[:3])
    np.testing.assert_array_equal(glat[:3], lat[:3])
    wlon, wlat = crs.gcj02_to_wgs84(lon[:3], lat[:3])
    np.testing.assert_array_equal(wlon, lon[:3])
    np.testing.assert_array_equal(wlat, lat[:3])


def test_coordsys_dispatchers() -> None:
    for coordsys in ("wgs84", "cgcs2000"):
        assert tuple(map(float, crs.from_wgs84(*CITY_GOV, coordsys))) == CITY_GOV
        assert tuple(map(float, crs.to_wgs84(*CITY_GOV, coordsys))) == CITY_GOV
    assert np.array(crs.from_wgs84(*CITY_GOV, "gcj02")).tolist() == np.array(crs.wgs84_to_gcj02(*CITY_GOV)).tolist()
    assert np.array(crs.from_wgs84(*CITY_GOV, "bd09")).tolist() == np.array(crs.wgs84_to_bd09(*CITY_GOV)).tolist()
    lon, lat = crs.to_wgs84(*crs.from_wgs84(*CITY_GOV, "bd09"), "bd09")
    assert (float(lon), float(lat)) == pytest.approx(CITY_GOV, abs=1e-9)
    with pytest.raises(InvalidCRS, match="unknown coordinate system 'baidu'"):
        crs.to_wgs84(*CITY_GOV, "baidu")  # type: ignore[arg-type]


def test_convert_geometry_between_coordsys() -> None:
    ring = [(112.94, 27.83), (112.95, 27.83), (112.95, 27.84), (112.94, 27.84)]
    hole = [(112.944, 27.834), (112.946, 27.834), (112.946, 27.836)]
    polygon = Polygon(ring, [hole])
    gcj = crs.convert_geometry(polygon, "wgs84", "gcj02")
    assert gcj.geom_type == "Polygon" and len(gcj.interiors) == 1
    expected = crs.wgs84_to_gcj02(112.94, 27.83)
    assert gcj.exterior.coords[0] == pytest.approx(tuple(map(float, expected)))
    back = crs.convert_geometry(gcj, "gcj02", "wgs84")
    assert back.equals_exact(polygon, 1e-9)
    assert crs.convert_geometry(polygon, "wgs84", "cgcs2000") is polygon
    with pytest.raises(InvalidCRS):
        crs.convert_geometry(polygon, "wgs84", "mars")  # type: ignore[arg-type]


def test_convert_frame_copies_and_keeps_crs() -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["gov", "line"]},
        geometry=[Point(CITY_GOV), LineString([CITY_GOV, (113.0, 27.9)])],
        crs="OGC:CRS84",
    )
    converted = crs.convert_frame(frame, "wgs84", "gcj02")
    assert converted is not frame
    assert converted.crs == frame.crs
    assert list(converted["name"]) == ["gov", "line"]
    assert frame.geometry.iloc[0].coords[0] == CITY_GOV  # input untouched
    point = converted.geometry.iloc[0]
    assert (point.x, point.y) == pytest.approx(tuple(map(float, crs.wgs84_to_gcj02(*CITY_GOV))))
    with pytest.raises(CRSMismatchError, match="lon/lat"):
        crs.convert_frame(frame.to_crs(4547), "wgs84", "gcj02")
    with pytest.raises(CRSMismatchError):
        crs.convert_frame(frame.set_crs(None, allow_override=True), "wgs84", "gcj02")
