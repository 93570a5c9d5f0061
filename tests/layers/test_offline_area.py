"""The offline area of a county: its projects and the basemap tiles around them, with an honest size."""

import pytest

import morecantile
from shapely.geometry import box

from geo.storage.base import Filter
from geo.tms import tile_grid
from layers.basemap import basemap_tile
from layers.errors import InvalidQueryParameter, UnknownCounty
from layers.offline_area import AreaSpec, estimate_tile_bytes, offline_area

WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture
def store(store_url):
    with store_url.open() as opened:
        yield opened


def test_county_area_holds_its_projects_and_tiles_near_them(store, registry):
    area = offline_area(store, registry.projects(), AreaSpec(county="430381"))
    assert area.name == "湘乡市"
    for layer_id, frame in area.projects.items():
        assert set(frame["county"]) == {"430381"}, layer_id
        assert len(frame) == len(store.read(layer_id, Filter(equals={"county": "430381"})))
    assert area.project_count == sum(len(f) for f in area.projects.values()) > 50
    zooms = area.tiles_by_zoom()
    assert min(zooms) == 8 and max(zooms) == 15 and sum(zooms.values()) == len(area.tiles) == len(set(area.tiles))
    # every z15 tile is within 500 m of a project's extent, and every project is covered at z15
    projects = [g for f in area.projects.values() for g in f.geometry]
    z15 = [box(*WEB_MERCATOR.bounds(morecantile.Tile(x, y, z))) for z, x, y in area.tiles if z == 15]
    assert all(any(t.distance(p.envelope) < 0.01 for p in projects) for t in z15)
    assert all(any(t.intersects(p) for t in z15) for p in projects)
    full = {(x, y) for z, x, y in area.tiles if z == 12}
    minx, miny, maxx, maxy = area.bbox
    assert full == {(t.x, t.y) for t in WEB_MERCATOR.tiles(minx, miny, maxx, maxy, [12])}


def test_tile_estimate_is_the_mean_of_rendered_samples(store, registry):
    area = offline_area(store, registry.projects(), AreaSpec(county="430382", max_zoom=13))
    sizes = [len(basemap_tile(store, tile_grid("WebMercatorQuad", *t))) for t in area.tiles]
    estimate = estimate_tile_bytes(area.tiles, lambda t: basemap_tile(store, tile_grid("WebMercatorQuad", *t)))
    assert 0.5 * sum(sizes) < estimate < 1.5 * sum(sizes)


def test_a_box_area_and_bad_areas(store, registry):
    area = offline_area(store, registry.projects(), AreaSpec(bbox=(112.85, 27.8, 112.95, 27.9), max_zoom=14))
    assert area.name is None and area.project_count > 0
    with pytest.raises(UnknownCounty):
        offline_area(store, registry.projects(), AreaSpec(county="110101"))
    with pytest.raises(InvalidQueryParameter, match="either county or bbox"):
        offline_area(store, registry.projects(), AreaSpec(county="430381", bbox=(112, 27, 113, 28)))
    with pytest.raises(InvalidQueryParameter, match="zoom"):
        offline_area(store, registry.projects(), AreaSpec(county="430381", max_zoom=10, full_zoom=12))
    with pytest.raises(InvalidQueryParameter, match="tiles"):
        offline_area(store, registry.projects(), AreaSpec(bbox=(111, 27, 114, 29), full_zoom=15, max_zoom=15))
