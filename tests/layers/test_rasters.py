"""Raster styling, tiles, legends and zones, resolved in layers (no HTTP)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import rasterio
import shapely
from rasterio.io import MemoryFile

from geo import raster
from geo.errors import InvalidGeometry, InvalidParameter
from geo.tms import tile_grid
from layers.boundaries import load_boundaries
from layers.query import Selection
from layers.raster_demo import build_cadmium_cog
from layers.rasters import (
    RasterStyle,
    geojson_zones,
    legend_png,
    legend_stops,
    raster_png,
    raster_spec,
    raster_style,
    raster_version,
    zonal_by_layer,
)
from tests.images import png_rgba

CITY = (112.9454, 27.8313)


@pytest.fixture(scope="module")
def cog(tmp_path_factory):
    return build_cadmium_cog(tmp_path_factory.mktemp("rasters") / "soil-cadmium.tif", load_boundaries(), seed=2025)


@pytest.fixture(scope="module")
def spec():
    return raster_spec("soil-cadmium")


def test_style_defaults_to_the_raster_own_ramp_and_range(spec):
    assert raster_style(spec, None, None) == RasterStyle(spec.colormap, *spec.rescale)
    assert raster_style(spec, "greys", " 0, 2 ") == RasterStyle("greys", 0.0, 2.0)


@pytest.mark.parametrize(("colormap", "rescale"), [("nope", None), (None, "2,1"), (None, "1,,2"), (None, "a,b")])
def test_bad_style_is_refused(spec, colormap, rescale):
    with pytest.raises(InvalidParameter):
        raster_style(spec, colormap, rescale)


def test_tile_png_is_the_coloured_data_and_empty_outside(cog):
    grid = tile_grid("WebMercatorQuad", 12, 3333, 1718)
    style = RasterStyle("greys", 0.0, 1.2)
    rgba = png_rgba(raster_png(cog, grid, style))
    assert rgba.shape == (4, 256, 256)
    expected = raster.colorize(raster.read_tile(cog, grid), "greys", 0.0, 1.2)
    assert expected.shape == rgba.shape and np.array_equal(rgba, expected)
    assert raster_png(cog, tile_grid("WebMercatorQuad", 10, 0, 0), style) == b""


def test_version_follows_the_file(cog, spec, tmp_path):
    copy = tmp_path / "copy.tif"
    copy.write_bytes(cog.read_bytes())
    before = raster_version(spec, copy)
    assert before.startswith("soil-cadmium=")
    os.utime(copy, ns=(1, 1))
    assert raster_version(spec, copy) == "soil-cadmium=1" != before


def test_legend_stops_and_png():
    style = RasterStyle("risk", 0.0, 1.0)
    stops = legend_stops(style)
    assert [s["value"] for s in stops] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert stops[0]["color"] == raster.legend("risk", 0.0, 1.0)[0]["color"]
    with MemoryFile(legend_png(style)) as memfile, memfile.open() as png:
        assert (png.width, png.height) == (256, 24)


def test_geojson_zones_accepts_features_collections_and_geometries():
    square = shapely.geometry.mapping(shapely.box(112.9, 27.8, 112.95, 27.85))
    collection = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "id": "sq", "properties": {}, "geometry": square}],
    }
    assert list(geojson_zones(collection)["id"]) == ["sq"]
    assert list(geojson_zones({"type": "Feature", "properties": {}, "geometry": square})["id"]) == ["0"]
    frame = geojson_zones(square)
    assert list(frame["id"]) == ["0"] and frame.crs.to_string() == "OGC:CRS84"
    with pytest.raises(InvalidGeometry, match="invalid GeoJSON"):
        geojson_zones({"type": "Polygon", "coordinates": "x"})


def test_zonal_by_layer_covers_the_selected_features(cog, demo_store, registry):
    farmland = registry.get("farmland")
    zones = zonal_by_layer(cog, demo_store, farmland, Selection(status=("completed",)), limit=10_000)
    completed = demo_store.read("farmland")
    completed = completed[completed["status"] == "completed"]
    assert sorted(z["id"] for z in zones) == sorted(completed["id"])
    assert len(zonal_by_layer(cog, demo_store, farmland, Selection(), limit=3)) == 3
    with rasterio.open(cog) as src:
        assert all(z["min"] >= 0 and z["max"] <= float(src.read(1, masked=True).max()) for z in zones if z["count"])
