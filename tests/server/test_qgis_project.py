"""Open in QGIS: the ``/map.qgs`` project, opened by real QGIS (system Python) against a running planmap server.

QGIS's own Python (Debian ``python3-qgis``) reads the downloaded project and fetches every layer's features
from the server over OGC API Features; the layers, counts, ids, colours and labels it reports must match
planmap's. Without QGIS these tests skip, except in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from PIL import Image, ImageColor

from geo.crs import transform_xy

SYSTEM_PYTHON = "/usr/bin/python3"
READER = Path(__file__).parent / "scripts" / "qgis_read_project.py"
FILTERED = {"county": "430321", "status": "completed,overdue", "layers": "farmland,reservoirs"}


def qgis_available() -> bool:
    """Return whether the system Python imports QGIS."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    done = subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=60, check=False)
    return done.returncode == 0


@pytest.fixture(scope="module")
def qgis(require):
    require(qgis_available(), "QGIS Python bindings (python3-qgis)")


@pytest.fixture(scope="module")
def server_url(demo_gpkg, app_factory, serve):
    """Serve the demo data with uvicorn on 127.0.0.1 (pages of 25, so QGIS pages through the larger layers)."""
    with serve(app_factory(demo_gpkg, default_limit=25)) as base:
        yield base


def open_in_qgis(project: Path, image: Path | None = None) -> dict:
    """Return what QGIS reports of the project's layers (it reads their features from the server).

    With ``image``, QGIS also renders the project's initial view there as a PNG.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(project.parent))
    done = subprocess.run(
        [SYSTEM_PYTHON, str(READER), str(project), *([str(image)] if image else [])],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def download(base: str, tmp_path: Path, params: dict[str, str] | None = None) -> Path:
    response = httpx.get(f"{base}/map.qgs", params=params, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-qgis-project")
    assert "planmap.qgs" in response.headers["content-disposition"]
    path = tmp_path / "planmap.qgs"
    path.write_bytes(response.content)
    return path


@pytest.mark.qgis
def test_qgis_opens_every_layer_from_the_server(qgis, server_url, demo_gpkg, registry, tmp_path):
    from geo.storage.gpkg import GeoPackageStore

    project = open_in_qgis(download(server_url, tmp_path), tmp_path / "view.png")
    assert project["crs"] == project["extentCrs"] == "EPSG:3857"
    with GeoPackageStore(demo_gpkg) as store:
        minx, miny, maxx, maxy = store.bounds("counties")
    xs, ys = transform_xy([minx, maxx], [miny, maxy], "OGC:CRS84", 3857)
    assert project["extent"] == project["fullExtent"] == pytest.approx([xs[0], ys[0], xs[1], ys[1]])
    with Image.open(tmp_path / "view.png") as image:  # drawn by QGIS from the features it read
        colors = Counter(image.convert("RGB").get_flattened_data())
    for spec in registry.get("reservoirs").statuses:
        assert colors[ImageColor.getrgb(spec.color)] > 0, spec.value  # markers in the catalogue's colours
    layers = {layer["name"]: layer for layer in project["layers"]}
    assert sorted(layers) == sorted(layer.title_zh for layer in registry)
    assert project["layers"][-1]["name"] == registry.get("counties").title_zh  # boundaries drawn underneath
    for spec in registry:
        layer = layers[spec.title_zh]
        assert layer["valid"] and layer["provider"] == "OAPIF", spec.id
        with GeoPackageStore(demo_gpkg) as store:
            total = store.count(spec.id)
        # QGIS 3.22's featureCount of an OAPIF layer is the server's numberMatched, before the layer's subset.
        assert layer["featureCount"] == total > 0, spec.id
        # The features QGIS reads (every page, then the view's subset: the current plan) are the web map's.
        shown = httpx.get(f"{server_url}/map/data/{spec.id}", timeout=60).json()["features"]
        assert layer["ids"] == sorted(str(f["properties"]["id"]) for f in shown), spec.id
        assert len(layer["ids"]) == total or "plan_years" in layer["subset"], spec.id
        assert layer["labelsEnabled"] and layer["labelField"] == spec.label_field == "name"
        if spec.kind == "context":
            assert layer["renderer"] == "singleSymbol" and layer["symbolColor"] == "#374151"
            continue
        assert layer["renderer"] == "categorizedSymbol" and layer["attribute"] == "status"
        expected_categories = [{"value": s.value, "label": s.label_zh, "color": s.color.lower()} for s in spec.statuses]
        assert layer["categories"] == expected_categories, spec.id


@pytest.mark.qgis
def test_qgis_keeps_the_views_filters(qgis, server_url, tmp_path):
    project = open_in_qgis(download(server_url, tmp_path, FILTERED))
    whole = ET.fromstring(httpx.get(f"{server_url}/map.qgs", timeout=60).content)
    city = [float(whole.findtext(f"mapcanvas/extent/{k}") or "nan") for k in ("xmin", "ymin", "xmax", "ymax")]
    inner = project["extent"]  # the county's, inside the city's
    assert city[0] <= inner[0] < inner[2] <= city[2] and city[1] <= inner[1] < inner[3] <= city[3]
    assert (inner[2] - inner[0]) * (inner[3] - inner[1]) < 0.8 * (city[2] - city[0]) * (city[3] - city[1])
    layers = {layer["name"]: layer for layer in project["layers"]}
    assert sorted(layers) == ["区县界", "病险水库除险加固", "高标准农田建设"]
    query = {"county": FILTERED["county"], "status": FILTERED["status"]}
    for layer_id, title in (("farmland", "高标准农田建设"), ("reservoirs", "病险水库除险加固")):
        shown = httpx.get(f"{server_url}/map/data/{layer_id}", params=query, timeout=60).json()["features"]
        assert shown, layer_id
        assert layers[title]["valid"]
        # QGIS 3.22 filters OAPIF layers as it reads them: the features it yields are the web map's.
        assert layers[title]["ids"] == sorted(str(f["properties"]["id"]) for f in shown), layer_id
        assert "overdue" in {f["properties"]["_status"] for f in shown} or layer_id == "reservoirs"
    assert layers["区县界"]["ids"] == ["430321"]


def test_map_view_filters_and_extent_are_in_the_project(client):
    response = client.get("/map.qgs", params={**FILTERED, "plan": "2025"})
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.tag == "qgis" and root.get("version", "").startswith("3.")
    assert root.findtext("projectCrs/spatialrefsys/authid") == "EPSG:3857"
    extent = [float(root.findtext(f"mapcanvas/extent/{k}") or "nan") for k in ("xmin", "ymin", "xmax", "ymax")]
    assert 12_400_000 < extent[0] < extent[2] < 12_650_000 and 3_150_000 < extent[1] < extent[3] < 3_300_000
    sources = {m.findtext("layername"): m.findtext("datasource") or "" for m in root.iter("maplayer")}
    farmland = sources["高标准农田建设"]
    assert farmland.startswith("url='http://testserver' typename='farmland' restrictToRequestBBOX='1' filter='")
    assert "\"county\" IN (\\'430321\\')" in farmland and "\"plan_years\" LIKE \\'%2025%\\'" in farmland
    assert '"due_date" <' in farmland  # overdue: past due and not done


def test_user_text_stays_escaped(client):
    nasty = "<&>'\""
    response = client.get("/map.qgs", params={"county": nasty, "layers": "farmland"})
    assert response.status_code == 200
    assert b"<&>" not in response.content and b"&lt;&amp;&gt;" in response.content
    root = ET.fromstring(response.content)
    farmland = next(m for m in root.iter("maplayer") if m.findtext("layername") == "高标准农田建设")
    assert "\"county\" IN (\\'<&>\\'\\'\"\\')" in (farmland.findtext("datasource") or "")


@pytest.mark.parametrize(
    ("params", "status", "named"),
    [({"status": "finished"}, 400, "finished"), ({"layers": "nope"}, 404, "nope"), ({"plan": "1999"}, 400, "plan")],
)
def test_bad_views_are_named_in_4xx(client, params, status, named):
    response = client.get("/map.qgs", params=params)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert named in response.text


@pytest.mark.parametrize("page", ["/map", "/map/layers/farmland"])
def test_map_pages_link_to_their_qgis_project(client, page):
    html = client.get(page, params={"county": "430321"}).text
    link = next(part for part in html.split('<a href="')[1:] if "在QGIS中打开" in part.split("</a>")[0])
    href = link.split('"')[0].replace("&amp;", "&")
    assert urlsplit(href).path == "/map.qgs"
    params = dict(parse_qsl(urlsplit(href).query))
    assert params["county"] == "430321"
    if page.endswith("farmland"):
        assert params["layers"] == "farmland"
    assert client.get(href).status_code == 200


@pytest.mark.qgis
def test_qgis_reads_a_view_of_hostile_text(qgis, server_url, tmp_path):
    nasty = "<&>'\"\\ 岳塘"
    project = open_in_qgis(download(server_url, tmp_path, {"county": nasty, "layers": "farmland"}))
    farmland = next(layer for layer in project["layers"] if layer["name"] == "高标准农田建设")
    assert farmland["valid"] and farmland["ids"] == []
    assert farmland["subset"].startswith("\"county\" IN ('<&>''\"\\\\ 岳塘')")
