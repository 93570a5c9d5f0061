"""Cached vector tiles and 304s answered before routing (``server.fasttiles``) answer exactly as the routes do."""

import re
from datetime import date

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from geo.storage.base import HistoryEntry
from layers.tokens import create_token
from server.fasttiles import _address

TILE = "/collections/farmland/tiles/WebMercatorQuad/10/843/427"
XYZ = "/tiles/farmland/10/843/427.mvt"
PLAN = "/tiles/WebMercatorQuad/10/843/427"
PLAN_XYZ = "/tiles/plan/10/843/427.mvt"


def fast_answers(client) -> int:
    return getattr(client.app.state, "fast_tile_answers", 0)


def comparable(headers) -> dict[str, str]:
    """Return the headers with the per-request CSP nonce and the date masked."""
    out = {k.lower(): v for k, v in headers.items() if k.lower() != "date"}
    out["content-security-policy"] = re.sub(r"nonce-[^']+", "nonce-X", out.get("content-security-policy", ""))
    return out


def test_tile_paths_are_recognised_like_the_routes():
    assert _address(TILE) == _address(XYZ.replace(".mvt", ".mvt"))
    assert _address(PLAN_XYZ).layer is None and _address(PLAN).layer is None
    assert _address("/tiles/WebMercatorQuad/tilejson.json") is None
    assert _address("/tiles/farmland/10/843/427.png") is None
    assert _address("/collections/farmland/items") is None


@pytest.mark.parametrize("path", [TILE, XYZ, PLAN, PLAN_XYZ, TILE + "?status=completed"])
@pytest.mark.parametrize("gzip", [True, False])
def test_cached_answers_carry_the_same_headers_and_body_as_the_route(writable_client, path, gzip):
    client = writable_client
    headers = {"Origin": "http://example.org", "Accept-Encoding": "gzip" if gzip else "identity"}
    before = fast_answers(client)
    first = client.get(path, headers=headers)  # the route builds and caches the tile
    assert first.status_code in (200, 204) and fast_answers(client) == before
    second = client.get(path, headers=headers)
    assert fast_answers(client) == before + 1
    assert second.status_code == first.status_code and second.content == first.content
    assert comparable(second.headers) == comparable(first.headers)
    assert "access-control-allow-origin" in second.headers and second.headers["x-frame-options"] == "DENY"
    if first.status_code == 200:
        assert mapbox_vector_tile.decode(second.content) == mapbox_vector_tile.decode(first.content)
    revalidated = client.get(path, headers={**headers, "If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304 and fast_answers(client) == before + 2
    routed_304 = comparable(revalidated.headers)
    client.app.state.tile_cache = None  # the route's own 304 (no cache to answer from)
    again = client.get(path, headers={**headers, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and fast_answers(client) == before + 2
    assert comparable(again.headers) == routed_304


def test_a_write_changes_the_tile_at_once(writable_client, writable_store):
    client = writable_client
    first = client.get(TILE)
    assert client.get(TILE, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    fid = writable_store.read("farmland", limit=1)["id"].iloc[0]
    entry = HistoryEntry("farmland", fid, date(2025, 6, 1), "completed", percent=100.0)
    writable_store.record_progress(entry, {"status": "completed", "progress_pct": 100.0})
    after = client.get(TILE, headers={"If-None-Match": first.headers["etag"]})
    assert after.status_code in (200, 204) and after.headers["etag"] != first.headers["etag"]


def test_lit_tiles_always_go_to_the_route(writable_client):
    client = writable_client
    before = fast_answers(client)
    for _ in range(2):
        assert client.get(TILE + "?lights=true").status_code in (200, 204)
    assert fast_answers(client) == before


def test_a_token_holders_cached_tile_is_never_answered_to_anonymous_callers(writable_client, writable_store):
    client = writable_client
    viewer = {"Authorization": "Bearer " + create_token(writable_store, "wang", "viewer")}
    private = TILE + "?filter=investment_wan > 100"
    assert client.get(private, headers=viewer).status_code in (200, 204)
    assert client.get(private, headers=viewer).status_code in (200, 204)
    before = fast_answers(client)
    anonymous = client.get(private)
    assert anonymous.status_code == 400 and fast_answers(client) == before
    assert "authorization" in client.get(private, headers=viewer).headers["vary"].lower()


def test_cached_tiles_still_need_a_token_when_reads_are_private(app_factory, writable_store_url, writable_store):
    viewer = {"Authorization": "Bearer " + create_token(writable_store, "wang", "viewer")}
    with TestClient(app_factory(writable_store_url, public_reads=False)) as client:
        assert client.get(XYZ, headers=viewer).status_code in (200, 204)
        assert client.get(XYZ, headers=viewer).status_code in (200, 204) and fast_answers(client) == 1
        refused = client.get(XYZ)
        assert refused.status_code == 401 and refused.json()["code"] == "NotAuthenticated"
        assert fast_answers(client) == 1


def fast_builds(client) -> int:
    return getattr(client.app.state, "fast_tile_builds", 0)


@pytest.mark.parametrize("path", [TILE, XYZ, "/collections/farmland/tiles/WorldCRS84Quad/9/843/170"])
@pytest.mark.parametrize("gzip", [True, False])
def test_plain_tiles_built_before_routing_answer_as_the_route(writable_client, monkeypatch, path, gzip):
    import server.fasttiles

    client = writable_client
    client.app.state.tile_cache = None
    headers = {"Origin": "http://example.org", "Accept-Encoding": "gzip" if gzip else "identity"}
    before = fast_builds(client)
    fast = client.get(path, headers=headers)
    assert fast.status_code in (200, 204) and fast_builds(client) == before + 1
    client.app.state.tile_cache = None  # built afresh by the route
    with monkeypatch.context() as patch:
        patch.setattr(server.fasttiles, "plain_tile", lambda request: None)
        routed = client.get(path, headers=headers)
    assert fast_builds(client) == before + 1
    assert routed.status_code == fast.status_code and routed.content == fast.content
    assert comparable(routed.headers) == comparable(fast.headers)
    if fast.status_code == 200:
        assert len(mapbox_vector_tile.decode(fast.content)["farmland"]["features"]) > 0
    client.app.state.tile_cache = None
    revalidated = client.get(path, headers={**headers, "If-None-Match": fast.headers["etag"]})
    assert revalidated.status_code == 304 and fast_builds(client) == before + 2


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (TILE + "?status=completed", (200, 204)),  # a filter: the route
        (PLAN, (200, 204)),  # the composite plan tile: the route
        ("/collections/nowhere/tiles/WebMercatorQuad/10/843/427", (404,)),
        ("/collections/farmland/tiles/NoSuchTMS/10/843/427", (404,)),
        ("/collections/farmland/tiles/WebMercatorQuad/3/843/427", (404,)),  # outside the matrix
        ("/tiles/farmland/33/1/1.mvt", (404,)),
    ],
)
def test_other_tile_requests_go_to_the_routes(writable_client, path, status):
    client = writable_client
    before = fast_builds(client)
    response = client.get(path)
    assert response.status_code in status and fast_builds(client) == before
    if response.status_code == 404:
        assert response.json()["code"] and response.headers["content-type"].startswith("application/json")


def test_a_build_that_fails_is_answered_by_the_route(writable_client, monkeypatch):
    import server.tilecache
    from geo.errors import StoreUnavailable

    def failing(*args, **kwargs):
        raise StoreUnavailable("the GeoPackage went away")

    monkeypatch.setattr(server.tilecache, "vector_tile", failing)
    writable_client.app.state.tile_cache = None
    response = writable_client.get(TILE)
    assert response.status_code == 503 and response.json()["code"] == "StoreUnavailable"
    assert "went away" in response.json()["description"]


def test_private_reads_need_a_token_for_cold_tiles_too(app_factory, writable_store_url, writable_store):
    viewer = {"Authorization": "Bearer " + create_token(writable_store, "wang", "viewer")}
    with TestClient(app_factory(writable_store_url, public_reads=False)) as client:
        refused = client.get(XYZ)
        assert refused.status_code == 401 and fast_builds(client) == 0
        assert client.get(XYZ, headers=viewer).status_code in (200, 204) and fast_builds(client) == 1


def test_quick_kinds_are_built_on_the_event_loop_and_slow_ones_in_a_thread(writable_client, monkeypatch):
    import threading

    import server.tilecache

    client = writable_client
    client.app.state.tile_cache = None
    threads = []
    real = server.tilecache.vector_tile

    def recorded(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(server.tilecache, "vector_tile", recorded)
    assert client.get(TILE).status_code in (200, 204)  # a kind not seen yet: a worker thread
    cache = client.app.state.tile_cache
    kind = ("farmland", "WebMercatorQuad", 10)
    for column, seconds in ((842, 0.0001), (841, 5.0)):
        cache.build_times = server.tilecache.BuildTimes()
        cache.build_times.record(kind, seconds)
        assert client.get(TILE.replace("/843/", f"/{column}/")).status_code in (200, 204)
    workers = [name for name in threads if name.startswith("AnyIO worker")]
    local = client.app.state.store.local_reads
    assert len(threads) == 3 and threads[0] in workers and threads[2] in workers
    assert (threads[1] not in workers) == local  # the embedded store builds a quick kind on the loop


def test_build_times_count_cpu_time_not_waits(writable_client, monkeypatch):
    """A build that waits (for the interpreter lock of a busy worker, say) is not made slow by the wait."""
    import time

    import server.tilecache

    client = writable_client
    client.app.state.tile_cache = None
    real = server.tilecache.vector_tile

    def waiting(*args, **kwargs):
        time.sleep(3 * server.tilecache.QUICK_BUILD_S)
        return real(*args, **kwargs)

    monkeypatch.setattr(server.tilecache, "vector_tile", waiting)
    assert client.get(TILE).status_code in (200, 204)
    times = client.app.state.tile_cache.build_times
    assert times.quick(("farmland", "WebMercatorQuad", 10))


def test_build_times_average_each_kind():
    from server.tilecache import QUICK_BUILD_S, BuildTimes

    times, kind = BuildTimes(), ("farmland", "WebMercatorQuad", 14)
    assert not times.quick(kind)
    times.record(kind, QUICK_BUILD_S / 4)
    assert times.quick(kind) and not times.quick(("farmland", "WebMercatorQuad", 8))
    for _ in range(20):
        times.record(kind, QUICK_BUILD_S * 10)  # the kind has become slow
    assert not times.quick(kind)
    times.record(kind, 0.0)
    assert not times.quick(kind)  # one quick build does not undo a slow average at once
