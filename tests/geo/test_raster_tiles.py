"""Raster tiles read fast draw what a straightforward render draws: GDAL's warper on the same overview, RGBA PNG."""

from __future__ import annotations

import numpy as np
import pytest
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

import rasterio
from rasterio.transform import from_bounds

from geo import raster, rasterpool, rastertile, render
from geo.tms import get_tms, tile_grid
from tests.images import png_rgba

BBOX = (112.42, 27.62, 113.08, 28.08)
NODATA = -9999.0


def _relief(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    values = 50 + 200 * (np.sin(x * 7.0) * np.cos(y * 5.0) + 1) + 60 * np.sin(x * 41 + y * 23)
    values[: size // 5, : size // 4] = NODATA  # a hole of nodata in the north-west
    return values.astype(np.float32)


def _cog(path, crs: str, bounds, size: int = 1500):
    plain = path.with_suffix(".plain.tif")
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "float32", "crs": crs}
    profile |= {"transform": from_bounds(*bounds, size, size), "nodata": NODATA}
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(_relief(size), 1)
    cog_translate(str(plain), str(path), cog_profiles.get("deflate"), quiet=True)
    return path


@pytest.fixture(scope="module")
def lonlat_cog(tmp_path_factory):
    return _cog(tmp_path_factory.mktemp("rt") / "dem.tif", "EPSG:4326", BBOX)


@pytest.fixture(scope="module")
def utm_cog(tmp_path_factory):
    return _cog(tmp_path_factory.mktemp("rt") / "utm.tif", "EPSG:32649", (735000, 3058000, 800000, 3110000))


def _tiles(zooms, bounds=BBOX, per_zoom=4, seed=1):
    tms, rng = get_tms("WebMercatorQuad"), np.random.default_rng(seed)
    west, south, east, north = bounds
    out = []
    for z in zooms:
        for _ in range(per_zoom):
            t = tms.tile(rng.uniform(west - 0.02, east + 0.02), rng.uniform(south - 0.02, north + 0.02), z)
            out.append(tile_grid("WebMercatorQuad", z, t.x, t.y))
    out.append(tile_grid("WebMercatorQuad", 12, *tms.tile(west + 0.001, north - 0.001, 12)[:2]))  # the corner
    hole = (west + (east - west) / 4, north - (north - south) / 5)  # the south-east corner of the nodata hole
    out += [tile_grid("WebMercatorQuad", z, *tms.tile(*hole, z)[:2]) for z in zooms]
    return out


def _reference(path, grid) -> np.ma.MaskedArray:
    """GDAL's warper (bilinear) on the overview the tile is read from: the straightforward render."""
    with rasterpool.lend(path, rastertile.overview_factor(raster.dataset(path), grid, 256)) as src:
        return rastertile.read_warped(src, grid, 256)


def test_low_zooms_read_an_overview_and_high_zooms_the_full_image(lonlat_cog):
    src = raster.dataset(lonlat_cog)
    assert src.overviews(1)
    tms = get_tms("WebMercatorQuad")
    at = {
        z: rastertile.overview_factor(src, tile_grid("WebMercatorQuad", z, *tms.tile(112.7, 27.8, z)[:2]), 256)
        for z in (8, 10, 12, 13, 16)
    }
    assert at[8] == max(src.overviews(1)) and at[13] is None and at[16] is None
    assert at[8] >= (at[10] or 1) >= (at[12] or 1)


def test_upsampled_tiles_equal_gdal_warper(lonlat_cog):
    for grid in _tiles(range(13, 17)):
        ours, ref = raster.read_tile(lonlat_cog, grid), _reference(lonlat_cog, grid)
        assert np.array_equal(np.ma.getmaskarray(ours), np.ma.getmaskarray(ref)), grid.tile
        assert np.allclose(ours.filled(0), ref.filled(0), rtol=1e-5, atol=1e-3), grid.tile


def test_downsampled_tiles_match_gdal_warper_within_a_ramp_step(lonlat_cog):
    """GDAL widens its bilinear kernel when it shrinks an image (by at most 2x from the chosen overview); we
    sample 2 x 2 pixels: the same mask, the same colour for most pixels, never more than one ramp step off."""
    for grid in _tiles(range(8, 13)):
        ours, ref = raster.read_tile(lonlat_cog, grid), _reference(lonlat_cog, grid)
        assert np.array_equal(np.ma.getmaskarray(ours), np.ma.getmaskarray(ref)), grid.tile
        step = np.abs(raster.color_index(ours, 0, 600).astype(int) - raster.color_index(ref, 0, 600).astype(int))
        drawn = ~np.ma.getmaskarray(ref)
        if drawn.any():
            assert step[drawn].max() <= 1 and step[drawn].mean() < 0.25, grid.tile


def test_other_crs_pairs_are_warped_by_gdal(utm_cog, lonlat_cog):
    grids = _tiles(range(10, 15), bounds=(112.45, 27.65, 113.0, 28.0))
    assert not rastertile.lonlat_to_mercator(raster.dataset(utm_cog), grids[0])  # metres: GDAL warps
    for grid in grids:
        ours, ref = raster.read_tile(utm_cog, grid), _reference(utm_cog, grid)
        assert np.array_equal(ours.filled(0), ref.filled(0)) and np.array_equal(ours.mask, ref.mask)
    cgcs = get_tms("CGCS2000Quad")
    tile = cgcs.tile(112.7, 27.8, 11)
    grid = tile_grid("CGCS2000Quad", 11, tile.x, tile.y)
    assert not rastertile.lonlat_to_mercator(raster.dataset(lonlat_cog), grid)
    assert np.array_equal(raster.read_tile(lonlat_cog, grid).filled(0), _reference(lonlat_cog, grid).filled(0))


@pytest.mark.parametrize("case", ["full", "nodata", "all-colours-and-nodata"])
def test_paletted_png_has_exactly_the_rgba_pixels(case):
    values = np.linspace(0.0, 1.0, 256 * 256).reshape(256, 256)
    mask = np.zeros(values.shape, dtype=bool)
    if case != "full":
        mask[:40, :] = True
    if case == "nodata":
        values = values / 2  # the upper half of the ramp stays unused: nodata takes one of its indices
    data = np.ma.masked_array(values, mask=mask)
    for name in ("viridis", "ylorrd_r", "greys"):
        png = raster.colorized_png(data, name, 0.0, 1.0)
        assert np.array_equal(png_rgba(png), raster.colorize(data, name, 0.0, 1.0)), (case, name)
        assert png_rgba(render.to_png(raster.colorize(data, name, 0.0, 1.0))).tobytes() == png_rgba(png).tobytes()


def test_tile_png_pixels_equal_the_straightforward_render(lonlat_cog):
    """The PNG a tile route sends has the pixels of GDAL's warp on the same overview coloured into RGBA."""
    from layers.rasters import RasterStyle, raster_png

    style = RasterStyle("viridis", 0.0, 600.0)
    for grid in _tiles(range(13, 17), per_zoom=2):
        png = raster_png(lonlat_cog, grid, style)
        ref = _reference(lonlat_cog, grid)
        if not png:
            assert np.ma.getmaskarray(ref).all()
            continue
        expected = raster.colorize(ref, style.colormap, style.low, style.high)
        assert np.array_equal(png_rgba(png), expected), grid.tile


def test_a_window_too_large_to_read_whole_is_warped_by_gdal(lonlat_cog, monkeypatch):
    monkeypatch.setattr(rastertile, "MAX_WINDOW_PIXELS", 100)
    grid = _tiles([14])[0]
    assert np.array_equal(raster.read_tile(lonlat_cog, grid).filled(0), _reference(lonlat_cog, grid).filled(0))
