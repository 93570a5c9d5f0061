"""The items selection and pages, resolved in layers: filter-crs, datetime, properties, sortby and one feature."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from geo.errors import InvalidCRS, UnknownFeature
from layers.errors import InvalidQueryParameter
from layers.items import ItemsRequest, items_filter, public_fields, read_feature, read_items
from layers.query import Selection


@pytest.fixture(scope="module")
def store(demo_store):
    return demo_store


@pytest.fixture(scope="module")
def farmland(registry):
    return registry.get("farmland")


def reported_between(store, start: date, end: date) -> set[str]:
    hist = store.history("farmland")
    days = pd.to_datetime(hist["date"]).dt.date
    return set(hist.loc[(days >= start) & (days <= end), "feature_id"].astype(str))


def test_datetime_restricts_the_filter_to_features_reported_in_the_interval(store, farmland):
    expected = reported_between(store, date(2025, 3, 1), date(2025, 3, 31))
    where = items_filter(store, farmland, Selection(), datetime_text="2025-03-01/2025-03-31")
    assert expected and set(where.ids) == expected


def test_datetime_intersects_with_the_other_selection(store, farmland):
    reported = sorted(reported_between(store, date(2025, 3, 1), date(2025, 3, 31)))
    selection = Selection(county=("430321",), ids=(*reported[:3], "not-reported"))
    where = items_filter(store, farmland, selection, datetime_text="2025-03-01/2025-03-31")
    assert where.ids == reported[:3] and where.equals["county"] == ["430321"]


def test_without_datetime_the_filter_is_the_selection(store, farmland):
    where = items_filter(store, farmland, Selection(status=("completed",), bbox=(112.8, 27.7, 113.0, 27.9)))
    assert where.ids is None and where.equals == {"status": ["completed"]} and where.bbox == (112.8, 27.7, 113.0, 27.9)


@pytest.mark.parametrize("crs", ["OGC:CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"])
def test_filter_crs_crs84_is_accepted(store, farmland, crs):
    assert items_filter(store, farmland, Selection(), filter_crs=crs).cql is None


@pytest.mark.parametrize("crs", ["EPSG:4547", "EPSG:4326"])
def test_other_filter_crs_is_refused(store, farmland, crs):
    with pytest.raises(InvalidCRS, match="filter-crs"):
        items_filter(store, farmland, Selection(), filter_crs=crs)


def test_read_items_sorts_pages_and_keeps_the_asked_properties(store, farmland):
    request = ItemsRequest(
        Selection(county=("430321",)), limit=5, offset=2, properties="name, area_mu", sortby="-area_mu"
    )
    page = read_items(store, farmland, request)
    everything = store.read("farmland")
    county = everything[everything["county"] == "430321"].sort_values(["area_mu", "id"], ascending=[False, True])
    assert page.matched == len(county) and page.properties == ["name", "area_mu"]
    assert list(page.frame["id"]) == list(county["id"].iloc[2:7])
    assert set(page.frame.columns) == {"id", "name", "area_mu", page.frame.geometry.name}


def test_read_items_names_a_bad_parameter(store, farmland):
    with pytest.raises(InvalidQueryParameter, match="owner_secret"):
        read_items(store, farmland, ItemsRequest(Selection(), limit=5, properties="name,owner_secret"))
    with pytest.raises(InvalidQueryParameter, match="cannot sort by 'geometry'"):
        read_items(store, farmland, ItemsRequest(Selection(), limit=5, sortby="geometry"))
    with pytest.raises(InvalidQueryParameter, match="datetime"):
        read_items(store, farmland, ItemsRequest(Selection(), limit=5, datetime="2025-05-01/2025-04-01"))


def test_read_feature_defaults_to_the_public_fields(store, farmland):
    fid = str(store.read("farmland", limit=1)["id"].iloc[0])
    frame, names = read_feature(store, farmland, fid)
    assert list(frame["id"]) == [fid] and names == public_fields(farmland)
    assert read_feature(store, farmland, fid, "name")[1] == ["name"]
    with pytest.raises(UnknownFeature):
        read_feature(store, farmland, "no-such-feature")
