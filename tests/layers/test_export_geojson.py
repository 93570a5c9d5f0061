"""GeoJSON exports on both stores: the fast page encoder writes, byte for byte, what the per-feature encoder
(``geo.geojson.encode_features`` + ``dumps``) writes, for every layer, filter, output CRS and ``as_of``; the
two stores export the same features (JSON attributes may list keys in another order: jsonb sorts them); and
PostGIS pages are read by key, never with OFFSET."""

from __future__ import annotations

from datetime import date

import numpy as np
import orjson
import psycopg
import pytest

from geo import geojson
from geo.errors import InvalidFilter
from geo.writers import parse_format
from layers.export import ExportJob, prepare_export, text_chunks
from layers.query import Selection

SELECTIONS = {
    "all": Selection(),
    "county": Selection(county=("430321",)),
    "cql": Selection(cql="progress_pct > 50"),
    "as_of": Selection(as_of=date(2025, 6, 30)),
}


def _reference(job: ExportJob) -> bytes:
    """The export as the per-feature encoder writes it: one ``dumps`` per ``encode_features`` dict."""
    decimals = geojson.decimals_for(job.schema.crs)
    pages = []
    for frame in job.frames():
        names = [c for c in frame.columns if c != frame.geometry.name]
        geoms = np.asarray(frame.geometry.array, dtype=object)
        feats = geojson.encode_features(frame, geoms, id_column="id", properties=names, decimals=decimals)
        pages.append(b",\n".join(geojson.dumps(f) for f in feats))
    return b",\n".join(p for p in pages if p)


def _jobs(store, registry, selection, crs="OGC:CRS84", chunk_size=37):
    """Yield (layer id, export job) for every demo layer the selection applies to."""
    for layer in registry.all():
        if layer.id not in store.layers():
            continue
        try:
            yield layer.id, prepare_export(store, layer, selection, crs, chunk_size=chunk_size)
        except InvalidFilter:  # a layer without the filtered column
            continue


def _body(job: ExportJob) -> tuple[bytes, bytes]:
    text = b"".join(text_chunks(job, parse_format("geojson")))
    head, _, rest = text.partition(b',"features":[\n')
    return head, rest.removesuffix(b"\n]}\n")


@pytest.mark.parametrize("crs", ["OGC:CRS84", "EPSG:4547"])
@pytest.mark.parametrize("which", list(SELECTIONS))
def test_fast_encoder_equals_per_feature_encoder(demo_store, registry, which, crs):
    jobs = list(_jobs(demo_store, registry, SELECTIONS[which], crs))
    assert len(jobs) >= 3
    for layer_id, job in jobs:
        head, body = _body(job)
        assert body == _reference(job), layer_id
        parsed = orjson.loads(head + b',"features":[' + body + b"]}")
        assert len(parsed["features"]) == job.matched


@pytest.mark.postgis
def test_both_stores_export_the_same_bytes(demo_gpkg, postgis_demo, registry):
    from geo.storage.gpkg import GeoPackageStore

    with GeoPackageStore(demo_gpkg) as lite, postgis_demo.open() as pg:
        for selection in SELECTIONS.values():
            exports = [dict(_jobs(store, registry, selection, chunk_size=50)) for store in (lite, pg)]
            assert exports[0].keys() == exports[1].keys()
            for layer_id, job in exports[0].items():
                ours = [_body(j) for j in (job, exports[1][layer_id])]
                assert ours[0][0] == ours[1][0]
                assert orjson.loads(b"[" + ours[0][1] + b"]") == orjson.loads(b"[" + ours[1][1] + b"]"), layer_id


@pytest.mark.postgis
def test_postgis_export_pages_by_key_without_offset(postgis_demo, registry, monkeypatch):
    issued: list[str] = []
    execute = psycopg.Cursor.execute

    def recording(self, query, params=None, **kwargs):
        issued.append(query if isinstance(query, str) else query.as_string(self))
        return execute(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", recording)
    layer = registry.get("farmland")
    with postgis_demo.open() as store:
        job = prepare_export(store, layer, Selection(), chunk_size=10)
        features = orjson.loads(b"".join(text_chunks(job, parse_format("geojson"))))["features"]
    pages = [q for q in issued if "ST_AsBinary" in q and '"farmland"' in q]
    assert len(features) == job.matched > 20
    assert len(pages) == job.matched // 10 + 1
    assert all('"id" >' in q for q in pages[1:])
    assert not [q for q in issued if "OFFSET" in q.upper()]
    assert [f["id"] for f in features] == sorted(f["id"] for f in features)
