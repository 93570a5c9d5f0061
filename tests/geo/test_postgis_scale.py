"""PostGIS scale-out: db load/dump round trip, reset, and the native paths agreeing with the generic ones.

Each test here needs both stores at once (the demo GeoPackage and its PostGIS copy), so they take the
``postgis_demo`` fixture directly instead of the parametrised ``store_url``.
"""

from __future__ import annotations

import copy
import functools
import shutil
import sqlite3
from contextlib import closing
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

from geopandas.testing import assert_geodataframe_equal

from geo.storage import FeatureStore, Filter, GeoPackageStore, HistoryEntry
from geo.storage.values import Aggregate
from server.cli import main as planmap

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def gpkg(demo_gpkg):
    with GeoPackageStore(demo_gpkg) as store:
        yield store


@pytest.fixture(scope="module")
def pg(postgis_demo):
    with postgis_demo.open() as store:
        yield store


@pytest.fixture
def fresh_schema(postgis_demo):
    from tests.conftest import PG_URL, _drop_schema

    name = "planmap_t_cli_" + np.random.default_rng().bytes(4).hex()
    yield PG_URL, name
    _drop_schema(name)


def test_db_load_then_dump_round_trips_layers_history_and_metadata(demo_gpkg, fresh_schema, tmp_path, capsys):
    url, schema = fresh_schema
    assert planmap(["db", "init", "--url", url, "--schema", schema]) == 0
    assert planmap(["db", "load", "--url", url, "--schema", schema, "--from", str(demo_gpkg)]) == 0
    # Loading twice would repeat the append-only history: refused, unless --replace.
    assert planmap(["db", "load", "--url", url, "--schema", schema, "--from", str(demo_gpkg)]) == 2
    assert "--replace" in capsys.readouterr().err
    assert planmap(["db", "load", "--url", url, "--schema", schema, "--from", str(demo_gpkg), "--replace"]) == 0
    out = tmp_path / "out.gpkg"
    assert planmap(["db", "dump", "--url", url, "--schema", schema, "--to", str(out)]) == 0
    with GeoPackageStore(demo_gpkg) as before, GeoPackageStore(out) as after:
        assert before.layers() == after.layers() and len(before.layers()) == 10
        for layer in before.layers():
            assert_geodataframe_equal(before.read(layer), after.read(layer))
            assert before.columns(layer) == after.columns(layer)
            assert before.version(layer) != after.version(layer)  # new writes, new dataset uid
        history = before.history()
        pd.testing.assert_frame_equal(history, after.history())
        assert history["seq"].is_unique and len(history) > 1000 and history["author"].str.len().gt(0).all()
        assert before.get_meta("build") == after.get_meta("build") is not None


def test_db_load_that_fails_half_way_leaves_the_schema_as_it_was(demo_gpkg, fresh_schema, tmp_path, capsys):
    url, schema = fresh_schema
    broken = tmp_path / "nul.gpkg"
    shutil.copyfile(demo_gpkg, broken)
    with closing(sqlite3.connect(broken)) as conn:
        # A NUL in a note: SQLite stores it, PostgreSQL text cannot hold it (the layers copy, the history fails).
        conn.execute("DROP TRIGGER planmap_history_no_update")
        conn.execute(
            "UPDATE planmap_history SET note = 'a' || char(0) || 'b' WHERE seq = (SELECT max(seq) FROM planmap_history)"
        )
        conn.commit()
    assert planmap(["db", "load", "--url", url, "--schema", schema, "--from", str(broken)]) == 2
    assert "cannot be stored in PostgreSQL" in capsys.readouterr().err
    from geo.storage import open_store

    with open_store(url, schema=schema) as store:
        assert store.layers() == [] and store.history().empty  # nothing half-loaded
        assert store.health().readable
    # The same load after a good one leaves the good data in place.
    assert planmap(["db", "load", "--url", url, "--schema", schema, "--from", str(demo_gpkg)]) == 0
    assert planmap(["db", "load", "--url", url, "--schema", schema, "--from", str(broken), "--replace"]) == 2
    with GeoPackageStore(demo_gpkg) as before, open_store(url, schema=schema) as store:
        assert store.layers() == before.layers() and len(store.history()) == len(before.history())


def test_reset_is_guarded_and_keeps_the_history_append_only(fresh_schema, tmp_path):
    url, schema = fresh_schema
    stores: list[FeatureStore] = [GeoPackageStore(tmp_path / "r.gpkg")]
    from geo.storage import open_store

    stores.append(open_store(url, schema=schema))
    frame = pd.DataFrame({"id": ["a"], "status": ["planned"]})
    import geopandas as gpd
    from shapely.geometry import Point

    for store in stores:
        with store:
            store.write_layer("things", gpd.GeoDataFrame(frame, geometry=[Point(112.9, 27.8)], crs="EPSG:4326"))
            store.append_history([HistoryEntry("things", "a", pd.Timestamp("2025-03-01").date(), "planned")])
            uid = store.version("things")
            with pytest.raises(ValueError, match="confirm"):
                store.reset()
            store.reset(confirm=True)
            assert store.layers() == [] and store.history().empty
            store.write_layer("things", gpd.GeoDataFrame(frame, geometry=[Point(112.9, 27.8)], crs="EPSG:4326"))
            assert store.version("things") != uid  # versions never repeat across a reset
            store.append_history([HistoryEntry("things", "a", pd.Timestamp("2025-04-01").date(), "started")])
    with closing(sqlite3.connect(tmp_path / "r.gpkg")) as conn, pytest.raises(sqlite3.DatabaseError):
        conn.execute("DELETE FROM planmap_history")
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute(sql.SQL("DELETE FROM {}.planmap_history").format(sql.Identifier(schema)))


@pytest.mark.parametrize("layer", ["farmland", "road-junctions", "transport-links", "old-communities"])
def test_nearest_agrees_between_stores_within_half_a_metre(gpkg, pg, layer):
    compared = 0
    x0, y0, x1, y1 = gpkg.bounds(layer)
    for lon, lat in [(x0 + (x1 - x0) * i / 4, y0 + (y1 - y0) * j / 4) for i in range(5) for j in range(5)]:
        a = gpkg.nearest(layer, lon, lat, 10_000, limit=20, columns=["id", "status"])
        b = pg.nearest(layer, lon, lat, 10_000, limit=20, columns=["id", "status"])
        # The same features in the same order, except where two distances tie within the tolerance.
        assert len(a) == len(b)
        np.testing.assert_allclose(a["distance_m"], b["distance_m"], atol=0.5)
        same = a["id"].to_numpy() == b["id"].to_numpy()
        assert same.all() or np.all(np.abs(np.diff(a["distance_m"].to_numpy()))[~same[:-1]] < 1.0)
        far = a["distance_m"].to_numpy() > 50
        turn = (a["bearing_deg"].to_numpy() - b["bearing_deg"].to_numpy() + 180) % 360 - 180
        assert np.all(np.abs(turn[far & same]) < 1.0)
        assert list(a.columns) == list(b.columns) and a.crs == b.crs
        compared += len(a)
    assert compared >= 15


def test_nearest_without_limit_finds_everything_in_the_radius(gpkg, pg):
    a = gpkg.nearest("road-junctions", 112.93, 27.85, 50_000)
    b = pg.nearest("road-junctions", 112.93, 27.85, 50_000)
    assert len(a) == len(b) > 50
    np.testing.assert_allclose(np.sort(a["distance_m"]), np.sort(b["distance_m"]), atol=0.5)


SPEC = Aggregate(
    by=("county", "status"),
    sums={"n": (), "mu": ("area_mu",), "mu_pct": ("area_mu", "progress_pct")},
    clip={"progress_pct": (0.0, 100.0)},
    before=("due_date", "2025-06-30"),
)


@pytest.mark.parametrize("where", [None, Filter(equals={"county": "430302"}), Filter(bbox=(112.8, 27.7, 113.0, 27.9))])
def test_sql_aggregate_matches_pandas(gpkg, pg, where):
    a, b = gpkg.aggregate("farmland", SPEC, where), pg.aggregate("farmland", SPEC, where)
    assert len(a) > 1
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)
    assert a["count"].sum() == gpkg.count("farmland", where)


@pytest.mark.parametrize(
    "where",
    [None, Filter(equals={"county": "430381"}), Filter(cql={"op": "=", "args": [{"property": "status"}, "completed"]})],
)
def test_progress_in_sql_gives_the_pandas_answers(gpkg, pg, registry, where):
    from layers.progress import feature_frame, layer_progress, summarise, with_state
    from layers.progress_counties import county_progress

    def close_to(a, b):
        exact, fuzzy = a.model_dump(), b.model_dump()
        for key in ("done", "done_weighted", "planned", "pct", "pct_weighted", "pct_planned"):
            want = exact.pop(key)
            assert fuzzy.pop(key) == (want if want is None else pytest.approx(want, rel=1e-9, abs=1e-9))
        assert fuzzy == exact, layer.id

    for layer in registry.projects():
        # The reference: every feature read and summed in pandas (the path a replay or an area takes).
        state = with_state(feature_frame(gpkg, layer, where, None), layer, None, None)
        reference = summarise(layer, state, None, scope="selection" if where else "city")
        close_to(reference, layer_progress(gpkg, layer, where=where))
        close_to(reference, layer_progress(pg, layer, where=where))
        counties = zip(
            county_progress(gpkg, layer, where=where).counties,
            county_progress(pg, layer, where=where).counties,
            strict=True,
        )
        for a, b in counties:
            if "county" in state:
                row = summarise(layer, state[state["county"] == a.scope], None, a.scope, a.scope_name)
                quota = layer.target.quotas.get(a.scope) if layer.target else None
                close_to(row.model_copy(update={"quota": quota}), a)
            close_to(a, b)


def _decode(data: bytes) -> dict[str, dict[str, Any]]:
    """Decode an MVT into layer -> feature id -> (properties, shapely geometry in tile units)."""
    import mapbox_vector_tile

    from shapely.geometry import shape

    layers = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True}) if data else {}
    return {
        name: {f["properties"]["id"]: (f["properties"], shape(f["geometry"])) for f in layer["features"]}
        for name, layer in layers.items()
    }


def _tiles_over(store: FeatureStore, layer: str, zooms: tuple[int, ...]) -> list[tuple[int, int, int]]:
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    x0, y0, x1, y1 = store.bounds(layer)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    out = []
    for z in zooms:
        t = tms.tile(cx, cy, z)
        out += [(z, t.x + dx, t.y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    return out


@pytest.mark.parametrize("layer_id", ["farmland", "transport-links", "road-junctions", "counties", "old-communities"])
def test_st_asmvt_tiles_match_the_python_tiles(gpkg, pg, registry, layer_id, monkeypatch):
    from geo.tms import tile_grid
    from layers.tiles import TileSpec, vector_tile

    # The reference: the Python tile pipeline over the generic candidates rule (read, then thin_frame)
    # on the same PostGIS data. (The GeoPackage's R-tree path breaks ties by R-tree order on float32
    # envelopes, so equal-sized features sharing a grid cell may be drawn differently there.)
    reference = copy.copy(pg)
    reference.mvt_layer = functools.partial(FeatureStore.mvt_layer, reference)
    reference.read_tile_candidates = functools.partial(FeatureStore.read_tile_candidates, reference)
    layer, spec, compared = registry.get(layer_id), TileSpec(), 0
    for z, x, y in _tiles_over(gpkg, layer_id, (8, 11, 14)):
        grid = tile_grid("WebMercatorQuad", z, x, y)
        native, _ = vector_tile(pg, [(layer, Filter())], grid, spec)
        python, _ = vector_tile(reference, [(layer, Filter())], grid, spec)
        a, b = _decode(native), _decode(python)
        assert a.keys() == b.keys()
        for name in a:
            assert name == layer_id and a[name].keys() == b[name].keys(), (z, x, y)
            for fid, (props, geom) in a[name].items():
                other_props, other = b[name][fid]
                assert props.keys() == other_props.keys()
                assert all(props[k] == pytest.approx(other_props[k]) for k in props)
                assert geom.hausdorff_distance(other) <= 16 + 1e-9, (fid, z, x, y)  # one 256-px pixel
                compared += 1
    assert compared >= 5
    # With a status filter only matching features are drawn, in both paths.
    grid = tile_grid("WebMercatorQuad", *_tiles_over(gpkg, layer_id, (8,))[4])
    where = Filter(equals={"status": "completed"}) if "status" in layer.field_names else Filter()
    native, python = (vector_tile(s, [(layer, where)], grid, spec)[0] for s in (pg, reference))
    assert {k: v.keys() for k, v in _decode(native).items()} == {k: v.keys() for k, v in _decode(python).items()}


def test_build_demo_into_postgis_needs_replace_the_second_time(fresh_schema, tmp_path, monkeypatch, capsys):
    url, schema = fresh_schema
    monkeypatch.setenv("PLANMAP_DATABASE_URL", url)
    monkeypatch.setenv("PLANMAP_DATABASE_SCHEMA", schema)
    monkeypatch.setenv("PLANMAP_DATA_DIR", str(tmp_path))
    assert planmap(["build-demo"]) == 0
    from geo.storage import open_store

    with open_store(url, schema=schema) as store:
        rows, version = len(store.history()), store.version("farmland")
    assert rows > 1000
    assert planmap(["build-demo"]) == 2
    assert "--replace" in capsys.readouterr().err
    assert planmap(["build-demo", "--replace"]) == 0
    with open_store(url, schema=schema) as store:
        assert len(store.history()) == rows  # replaced, not appended twice
        assert store.version("farmland") != version and len(store.layers()) == 10


def test_versions_never_repeat_for_other_processes_across_a_reset(fresh_schema):
    """A worker opened before a reset never sees an old version string again (new uid, counters carry on)."""
    import geopandas as gpd
    from shapely.geometry import Point

    from geo.storage import open_store

    url, schema = fresh_schema
    frame = gpd.GeoDataFrame({"id": ["a"]}, geometry=[Point(112.9, 27.8)], crs="EPSG:4326")
    with open_store(url, schema=schema) as admin, open_store(url, schema=schema) as worker:
        admin.write_layer("things", frame)
        admin.append_history([HistoryEntry("things", "a", pd.Timestamp("2025-03-01").date(), "planned")])
        seen = {worker.version("things")}
        feature_seen = {worker.feature_version("things", "a")}
        admin.reset(confirm=True)
        admin.write_layer("things", frame)
        admin.append_history([HistoryEntry("things", "a", pd.Timestamp("2025-03-01").date(), "planned")])
        assert worker.version("things") not in seen
        assert worker.feature_version("things", "a") not in feature_seen


def test_db_load_carries_accounts_and_their_tokens(writable_gpkg, fresh_schema):
    import time

    from geo.storage import open_store
    from layers.accounts import create_user, password_matches
    from layers.tokens import authenticate, create_token

    url, schema = fresh_schema
    with GeoPackageStore(writable_gpkg) as store:
        create_user(store, "li", role="planner", password="planner password", actor="t", clock=time.time)
        token = create_token(store, "li", "planner")
        accounts = store.users()
    assert planmap(["db", "init", "--url", url, "--schema", schema]) == 0
    assert planmap(["db", "load", "--url", url, "--schema", schema, "--from", str(writable_gpkg), "--replace"]) == 0
    with open_store(url, schema=schema) as pg_store:
        assert pg_store.users() == accounts
        assert password_matches(pg_store.user("li").password_hash, "planner password")
        assert authenticate(pg_store, token).user == "li"


@pytest.mark.parametrize("lat", [27.8, 60.0])
def test_nearest_finds_the_geodesically_nearest_where_degrees_mislead(fresh_schema, tmp_path, lat):
    """Two rings of points at 100 m and 150 m: in degrees the far ring's north and south points come before
    the near ring's east and west ones (at 60°N markedly), so the KNN candidates hold far points and the
    exact search, in a box shrunk to their bound, must still find the whole near ring."""
    import geopandas as gpd
    from pyproj import Geod
    from shapely.geometry import Point

    from geo.storage import open_store

    url, schema = fresh_schema
    lon, geod = 112.9, Geod(ellps="WGS84")
    azimuths = np.arange(0, 360, 45.0)
    points, ids = [], []
    for ring in (100.0, 150.0):
        x, y, _ = geod.fwd(np.full(8, lon), np.full(8, lat), azimuths, np.full(8, ring))
        points += [Point(a, b) for a, b in zip(x, y, strict=True)]
        ids += [f"r{ring:.0f}-{int(a)}" for a in azimuths]
    frame = gpd.GeoDataFrame({"id": ids, "status": "planned"}, geometry=points, crs="EPSG:4326")
    for store in (GeoPackageStore(tmp_path / "rings.gpkg"), open_store(url, schema=schema)):
        with store:
            store.write_layer("rings", frame)
            near = store.nearest("rings", lon, lat, 2000, limit=8)
            assert sorted(near["id"]) == sorted(i for i in ids if i.startswith("r100"))
            np.testing.assert_allclose(near["distance_m"], 100.0, atol=0.01)
            everything = store.nearest("rings", lon, lat, 2000, limit=12)
            assert len(everything) == 12 and (everything["distance_m"].iloc[8:] > 149.9).all()
