"""GDAL's OAPIF driver (ogrinfo, ogr2ogr) against a real uvicorn server: the API works for GIS clients."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest


@pytest.fixture(scope="module")
def server_url(store_url, app_factory, serve):
    """Serve the demo data (pages of 10, so GDAL pages through them) with uvicorn on 127.0.0.1."""
    with serve(app_factory(store_url, default_limit=10)) as base:
        yield base


@pytest.fixture
def gdal(require):
    require(shutil.which("ogrinfo") is not None and shutil.which("ogr2ogr") is not None, "GDAL (ogrinfo, ogr2ogr)")


def run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ogrinfo_lists_every_collection(gdal, server_url, registry):
    out = run("ogrinfo", "-ro", "-so", f"OAPIF:{server_url}")
    listed = re.findall(r"^\d+: (\S+) \(title: ([^)]*)\)", out, flags=re.MULTILINE)
    assert [name for name, _ in listed] == registry.ids()
    assert dict(listed)["farmland"].startswith(registry.get("farmland").title_zh)


def test_ogrinfo_reports_feature_count_and_fields(gdal, server_url, demo_store, registry):
    out = run("ogrinfo", "-ro", f"OAPIF:{server_url}", "farmland", "-al", "-so")
    expected = demo_store.count("farmland")
    assert f"Feature Count: {expected}" in out
    assert re.search(r"^Geometry: Multi Polygon", out, flags=re.MULTILINE)
    for name in ("status", "area_mu", "due_date"):
        assert re.search(rf"^{name}: ", out, flags=re.MULTILINE), name


def test_ogr2ogr_reads_a_layer_completely(gdal, server_url, demo_store, tmp_path):
    target = tmp_path / "reservoirs.geojson"
    run("ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{server_url}", "reservoirs", "-oo", "PAGE_SIZE=7")
    features = json.loads(target.read_text(encoding="utf-8"))["features"]
    frame = demo_store.read("reservoirs")
    assert len(features) == len(frame) > 7  # several pages, walked through the `next` links
    assert sorted(f["properties"]["id"] for f in features) == sorted(frame["id"])
    by_id = {f["properties"]["id"]: f for f in features}
    first = frame.iloc[0]
    x, y = by_id[first["id"]]["geometry"]["coordinates"][:2]
    assert abs(x - first.geometry.x) < 1e-6 and abs(y - first.geometry.y) < 1e-6
    assert by_id[first["id"]]["properties"]["name"] == first["name"]
