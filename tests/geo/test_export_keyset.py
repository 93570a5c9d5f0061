"""Whole-layer exports page by key (``id`` after the last page's), not by offset: on both stores the pages equal
the offset pages row for row, a filter still applies, and a feature added between two pages is not read twice."""

from __future__ import annotations

from datetime import date

import pandas as pd

from geo.storage.base import Filter, HistoryEntry
from geo.storage.values import FeatureWrite
from geo.writers.frames import iter_frames


def _offset_pages(store, layer, where, chunk):
    offset, out = 0, []
    while True:
        frame = store.read(layer, where, limit=chunk, offset=offset)
        out.append(frame)
        if len(frame) < chunk:
            return pd.concat(out, ignore_index=True)
        offset += chunk


def test_keyset_pages_equal_offset_pages_row_for_row(demo_store):
    for where in (
        None,
        Filter(equals={"county": "430321"}),
        Filter(cql={"op": ">", "args": [{"property": "area_mu"}, 100]}),
    ):
        keyset = pd.concat(list(iter_frames(demo_store, "farmland", where, chunk_size=7)), ignore_index=True)
        offset = _offset_pages(demo_store, "farmland", where, 7)
        assert len(keyset) == len(offset) > 0
        assert list(keyset["id"]) == list(offset["id"]) == sorted(offset["id"])
        pd.testing.assert_frame_equal(
            pd.DataFrame(keyset.drop(columns="geometry")), pd.DataFrame(offset.drop(columns="geometry"))
        )
        assert keyset.geometry.geom_equals_exact(offset.geometry, tolerance=0).all()


def test_a_write_between_pages_neither_repeats_nor_skips(writable_store):
    store = writable_store
    pages = iter_frames(store, "reservoirs", chunk_size=10)
    first = next(pages)
    row = store.read("reservoirs", Filter(ids=[first["id"].iloc[0]])).iloc[0]
    values = {k: v for k, v in row.items() if k != "geometry" and not (isinstance(v, float) and v != v)}
    values["id"] = "RS-000"  # sorts before every page read so far: an offset would shift and repeat a row
    entry = HistoryEntry("reservoirs", "RS-000", date(2025, 12, 1), str(row["status"]), None, "", "test")
    store.create_feature(FeatureWrite(entry, values, row["geometry"]))
    rest = pd.concat(list(pages), ignore_index=True)
    ids = list(first["id"]) + list(rest["id"])
    assert len(ids) == len(set(ids)) == store.count("reservoirs") - 1


def test_pages_follow_id_order_when_row_order_differs(writable_store):
    """A feature added later with the smallest id (last in the GeoPackage's fid order) is read once, first."""
    store = writable_store
    row = store.read("reservoirs", limit=1).iloc[0]
    values = {k: v for k, v in row.items() if k != "geometry" and not (isinstance(v, float) and v != v)}
    values["id"] = "RS-000"
    entry = HistoryEntry("reservoirs", "RS-000", date(2025, 12, 1), str(row["status"]), None, "", "test")
    store.create_feature(FeatureWrite(entry, values, row["geometry"]))
    ids = [i for frame in iter_frames(store, "reservoirs", chunk_size=4) for i in frame["id"]]
    assert ids[0] == "RS-000"
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids)) == store.count("reservoirs")
