"""A layer too large to embed is drawn from planmap's vector tiles in a real browser (Leaflet.VectorGrid).

The demo farmland (137 parcels) is copied with small shifts into 6,000 parcels, above the map's embedding
threshold, so ``/map`` switches the layer to MVT tiles drawn on canvas: the tiles must be requested from
planmap, decode without error and paint the parcels.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest

import shapely

from geo.storage.gpkg import GeoPackageStore
from server.maps.plan import DENSE_FEATURES

pytestmark = pytest.mark.browser

COPIES = 44  # 137 demo parcels x 44 = 6,028 > DENSE_FEATURES

# Alpha of every pixel painted on the vector-grid canvases of the overlay pane.
PAINTED = """() => Array.from(document.querySelectorAll('.leaflet-overlay-pane canvas, .leaflet-tile-pane canvas'))
  .reduce((sum, c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return sum + n; }, 0)"""


@pytest.fixture
def dense_gpkg(writable_gpkg):
    """The demo data with a farmland layer of 6,028 parcels (shifted copies of the demo parcels)."""
    with GeoPackageStore(writable_gpkg) as store:
        base, types = store.read("farmland"), store.columns("farmland")
        rng = np.random.default_rng(5)
        copies = []
        for k in range(COPIES):
            dx, dy = rng.uniform(-0.01, 0.01, 2)
            copy = base.copy()
            copy["id"] = [f"{fid}-{k:02d}" for fid in base["id"]]
            copy["geometry"] = shapely.transform(base.geometry.array, lambda xy, dx=dx, dy=dy: xy + (dx, dy))
            copies.append(copy)
        frame = pd.concat(copies, ignore_index=True)
        store.write_layer("farmland", frame.set_geometry("geometry", crs=base.crs), types=types)
        assert store.count("farmland") == len(base) * COPIES > DENSE_FEATURES
    return writable_gpkg


def test_dense_farmland_is_drawn_from_vector_tiles(chromium, tmp_path, dense_gpkg, app_factory, serve):
    context = chromium(tmp_path / "chromium-profile", {"width": 1100, "height": 800})
    try:
        with serve(app_factory(dense_gpkg)) as base:
            page = context.new_page()
            tiles: list[tuple[str, int]] = []
            errors: list[str] = []
            hosts: set[str | None] = set()
            page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname))
            page.on("response", lambda r: tiles.append((r.url, r.status)) if "farmland" in r.url else None)
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{base}/map?layers=farmland", wait_until="networkidle")
            assert page.locator("path.pm-farmland").count() == 0  # not embedded as GeoJSON
            mvt = [(url, status) for url, status in tiles if "/tiles/" in url]
            assert mvt and all(status in (200, 204) for _, status in mvt), mvt
            assert any(status == 200 for _, status in mvt)
            page.wait_for_function(f"({PAINTED})() > 500")
            assert not errors, errors
            assert hosts <= {"127.0.0.1", None}, hosts
    finally:
        context.close()
