"""A worker builds a bounded number of tiles at once; requests for a tile being built wait for it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

import server.tilecache as tile_builder
from server.main import create_app
from server.settings import Settings, StoreSettings, TileSettings

TILES = [(12, 3327 + dx, 1714 + dy) for dx in range(3) for dy in range(3)]


def app_on(gpkg: Path, builds: int):
    store = StoreSettings(gpkg_path=gpkg, data_dir=gpkg.parent)
    return create_app(Settings(store=store, tiles=TileSettings(tile_builds=builds)))


def counting(monkeypatch):
    """Wrap the tile builder: count calls and the most running at once (each a heavy tile: more CPU time than a
    tile the event loop builds itself)."""
    state = {"running": 0, "most": 0, "calls": 0}
    lock = threading.Lock()
    real = tile_builder.vector_tile

    def slow(*args, **kwargs):
        with lock:
            state["running"] += 1
            state["calls"] += 1
            state["most"] = max(state["most"], state["running"])
        try:
            busy_until = time.thread_time() + 1.5 * tile_builder.QUICK_BUILD_S
            while time.thread_time() < busy_until:
                pass
            return real(*args, **kwargs)
        finally:
            with lock:
                state["running"] -= 1

    monkeypatch.setattr(tile_builder, "vector_tile", slow)
    return state


def fetch_all(client: TestClient, paths: list[str]) -> list[int]:
    with ThreadPoolExecutor(8) as pool:
        return [r.status_code for r in pool.map(client.get, paths)]


def test_no_more_tiles_are_built_at_once_than_tile_builds(demo_gpkg, monkeypatch):
    state = counting(monkeypatch)
    with TestClient(app_on(Path(demo_gpkg), builds=2)) as client:
        codes = fetch_all(client, [f"/tiles/farmland/{z}/{x}/{y}.mvt" for z, x, y in TILES])
    assert set(codes) <= {200, 204} and state["calls"] == len(TILES)
    assert state["most"] == 2


def test_requests_for_a_tile_being_built_get_the_one_build(demo_gpkg, monkeypatch):
    state = counting(monkeypatch)
    with TestClient(app_on(Path(demo_gpkg), builds=1)) as client:
        z, x, y = TILES[0]
        codes = fetch_all(client, [f"/tiles/farmland/{z}/{x}/{y}.mvt"] * 8)
    assert len(set(codes)) == 1 and state["calls"] == 1
