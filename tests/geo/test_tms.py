import pytest

import morecantile

from geo.errors import TileOutsideBounds, UnknownTileMatrixSet
from geo.tms import CGCS2000_QUAD, TMS_IDS, get_tms, tile_grid, tile_matrix_sets

CITY_GOVERNMENT = (112.9454, 27.8313)


def test_cgcs2000_quad_matches_tianditu_c_grid():
    tms = get_tms(CGCS2000_QUAD)
    assert tms.crs.to_epsg() == 4490
    assert tms.minzoom == 1
    level1 = tms.matrix(1)
    assert (level1.matrixWidth, level1.matrixHeight) == (2, 1)
    assert level1.cellSize == pytest.approx(360 / 2 / 256)
    tile = tms.tile(*CITY_GOVERNMENT, 12)
    assert (tile.x, tile.y, tile.z) == (3333, 707, 12)


def test_cgcs2000_tile_bounds_are_360_over_2_to_the_level():
    grid = tile_grid(CGCS2000_QUAD, 12, 3333, 707)
    minx, miny, maxx, maxy = grid.lonlat_bounds
    assert maxx - minx == pytest.approx(360 / 2**12)
    assert maxy - miny == pytest.approx(360 / 2**12)
    assert minx == pytest.approx(-180 + 3333 * 360 / 2**12)
    assert maxy == pytest.approx(90 - 707 * 360 / 2**12)
    assert minx <= CITY_GOVERNMENT[0] <= maxx and miny <= CITY_GOVERNMENT[1] <= maxy


def test_web_mercator_tile_of_city_government():
    tile = get_tms("WebMercatorQuad").tile(*CITY_GOVERNMENT, 12)
    assert (tile.x, tile.y) == (3333, 1718)


def test_registry_lists_three_sets_without_touching_morecantile_defaults():
    assert tile_matrix_sets().list() == list(TMS_IDS)
    assert CGCS2000_QUAD not in morecantile.tms.list()


@pytest.mark.parametrize(
    ("tms", "z", "x", "y"),
    [
        ("WebMercatorQuad", 3, 8, 0),
        ("WebMercatorQuad", 3, 0, 8),
        ("WebMercatorQuad", -1, 0, 0),
        ("WebMercatorQuad", 31, 0, 0),
        (CGCS2000_QUAD, 0, 0, 0),
        (CGCS2000_QUAD, 1, 0, 1),
        ("WorldCRS84Quad", 0, 2, 0),
    ],
)
def test_out_of_range_tiles_raise(tms, z, x, y):
    with pytest.raises(TileOutsideBounds):
        tile_grid(tms, z, x, y)


def test_unknown_tms_raises():
    with pytest.raises(UnknownTileMatrixSet):
        get_tms("GoogleMapsCompatible")


def test_to_pixels_puts_the_tile_corners_at_0_and_extent():
    import numpy as np

    import shapely

    grid = tile_grid("WebMercatorQuad", 12, 3333, 1718)
    minx, miny, maxx, maxy = grid.lonlat_bounds
    pts = grid.to_pixels(np.array([shapely.Point(minx, maxy), shapely.Point(maxx, miny)]), 4096)
    assert shapely.get_coordinates(pts) == pytest.approx(np.array([[0, 0], [4096, 4096]]), abs=1e-6)
