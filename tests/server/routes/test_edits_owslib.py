"""Part 4 through OWSLib (a third-party OGC API client) against planmap served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest
from owslib.ogcapi.features import Features

from layers.boundaries import load_boundaries
from layers.tokens import create_token


@pytest.fixture
def served(writable_store_url, writable_store, app_factory, serve):
    token = create_token(writable_store, "chen", "planner")
    with serve(app_factory(writable_store_url)) as base:
        yield base, token


def _square():
    counties = load_boundaries()
    point = counties.loc[counties["id"] == "430381"].geometry.iloc[0].buffer(-0.01).representative_point()
    x, y, d = point.x, point.y, 0.002
    return {
        "type": "Polygon",
        "coordinates": [[[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d], [x - d, y - d]]],
    }


def test_owslib_creates_updates_and_deletes(served):
    base, token = served
    auth = {"Authorization": f"Bearer {token}"}
    body = {"type": "Feature", "id": "FL-OWS1", "geometry": _square(), "properties": {"name": "OWSLib 项目"}}
    assert Features(base, headers=dict(auth)).collection_item_create("farmland", body) is True
    read = Features(base)
    assert read.collection_item("farmland", "FL-OWS1")["properties"]["name"] == "OWSLib 项目"

    etag = httpx.get(f"{base}/collections/farmland/items/FL-OWS1", headers=auth).headers["etag"]
    changed = {**body, "properties": {"name": "OWSLib 项目(改)", "ponds": 3}}
    writer = Features(base, headers={**auth, "If-Match": etag})
    assert writer.collection_item_update("farmland", "FL-OWS1", changed) is True
    props = read.collection_item("farmland", "FL-OWS1")["properties"]
    assert props["name"] == "OWSLib 项目(改)" and props["ponds"] == 3

    stale = Features(base, headers={**auth, "If-Match": etag})
    with pytest.raises(RuntimeError, match="changed since you read it"):
        stale.collection_item_delete("farmland", "FL-OWS1")
    etag = httpx.get(f"{base}/collections/farmland/items/FL-OWS1", headers=auth).headers["etag"]
    assert Features(base, headers={**auth, "If-Match": etag}).collection_item_delete("farmland", "FL-OWS1") is True
    assert httpx.get(f"{base}/collections/farmland/items/FL-OWS1").status_code == 404
    with pytest.raises(RuntimeError, match="deleted"):
        Features(base, headers=dict(auth)).collection_item_create("farmland", body)
