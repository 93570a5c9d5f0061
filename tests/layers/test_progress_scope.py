"""Progress scopes: a bbox is an area features count in by share; a posted polygon narrows it further."""

from __future__ import annotations

import pytest

import shapely

from geo.errors import InvalidGeometry
from layers.errors import UnknownCounty
from layers.progress import layer_progress
from layers.progress_scope import ProgressScope, progress_scope
from layers.query import Selection

BBOX = (112.85, 27.75, 113.0, 27.9)
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[112.9, 27.8], [113.1, 27.8], [113.1, 27.95], [112.9, 27.95], [112.9, 27.8]]],
}


@pytest.fixture(scope="module")
def farmland(registry):
    return registry.get("farmland")


def test_bbox_becomes_the_area_and_leaves_the_filter(demo_store, farmland):
    scope = progress_scope(demo_store, farmland, Selection(bbox=BBOX, county=("430321",), status=("completed",)))
    assert scope.area == BBOX and scope.where.bbox is None
    assert scope.where.equals == {"county": ["430321"], "status": ["completed"]}


def test_without_bbox_there_is_no_area(demo_store, farmland):
    scope = progress_scope(demo_store, farmland, Selection(county=("430321",)))
    assert scope.area is None and scope.where.equals == {"county": ["430321"]}
    with pytest.raises(UnknownCounty):
        progress_scope(demo_store, farmland, Selection(county=("110000",)))


def test_bbox_weights_farmland_by_area_share(demo_store, farmland):
    scope = progress_scope(demo_store, farmland, Selection(bbox=BBOX))
    weighted = layer_progress(demo_store, farmland, None, scope.where, scope.area)
    touching = layer_progress(demo_store, farmland, None, progress_scope(demo_store, farmland, Selection()).where)
    assert weighted.scope == "area" and 0 < weighted.done <= touching.done


def test_within_clips_the_polygon_to_the_bbox(demo_store, farmland):
    narrowed = progress_scope(demo_store, farmland, Selection(bbox=BBOX)).within(SQUARE)
    assert shapely.equals(narrowed.area, shapely.box(112.9, 27.8, 113.0, 27.9))
    alone = ProgressScope(narrowed.where).within({"type": "Feature", "properties": {}, "geometry": SQUARE})
    assert shapely.equals(alone.area, shapely.box(112.9, 27.8, 113.1, 27.95))


def test_within_refuses_a_polygon_outside_the_bbox_or_not_a_polygon(demo_store, farmland):
    scope = progress_scope(demo_store, farmland, Selection(bbox=(112.0, 27.0, 112.1, 27.1)))
    with pytest.raises(InvalidGeometry, match="does not overlap bbox"):
        scope.within(SQUARE)
    with pytest.raises(InvalidGeometry, match="Polygon"):
        scope.within({"type": "Point", "coordinates": [112.9, 27.8]})
