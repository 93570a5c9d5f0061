"""Navigation buttons hand each project to 高德地图 (GCJ-02), 百度地图 (BD-09) and the system map app (WGS84)."""

import html as htmllib
import math
import re
from urllib.parse import parse_qs, urlsplit

import pytest

A, EE = 6378245.0, 0.00669342162296594323  # Krasovsky 1940, as in the published GCJ-02 formula
X_PI = math.pi * 3000.0 / 180.0


def _lat(x, y):
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _lon(x, y):
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def gcj02(lon, lat):
    dlat, dlon = _lat(lon - 105.0, lat - 35.0), _lon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (A / sqrt_magic * math.cos(rad) * math.pi)
    return lon + dlon, lat + dlat


def bd09(lon, lat):
    x, y = gcj02(lon, lat)
    z = math.sqrt(x * x + y * y) + 0.00002 * math.sin(y * X_PI)
    theta = math.atan2(y, x) + 0.000003 * math.cos(x * X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _links(page):
    found = {}
    for kind in ("amap", "baidu", "geo"):
        found[kind] = [htmllib.unescape(h) for h in re.findall(rf'class="pm-nav-{kind}" href="([^"]+)"', page)]
    return found


def _check(links, lon, lat, name):
    amap = parse_qs(urlsplit(links["amap"]).query)
    alon, alat, aname = amap["to"][0].split(",", 2)
    glon, glat = gcj02(lon, lat)
    assert (float(alon), float(alat), aname) == (pytest.approx(glon, abs=6e-7), pytest.approx(glat, abs=6e-7), name)
    assert amap["coordinate"] == ["gaode"] and links["amap"].startswith("https://uri.amap.com/")
    baidu = parse_qs(urlsplit(links["baidu"]).query)
    blat, blon = (float(v) for v in baidu["location"][0].split(","))
    want_blon, want_blat = bd09(lon, lat)
    assert (blon, blat) == (pytest.approx(want_blon, abs=6e-7), pytest.approx(want_blat, abs=6e-7))
    assert baidu["coord_type"] == ["bd09ll"] and baidu["title"] == [name]
    glat_s, glon_s = re.match(r"geo:([\d.-]+),([\d.-]+)\?", links["geo"]).groups()
    assert (float(glon_s), float(glat_s)) == (pytest.approx(lon, abs=6e-7), pytest.approx(lat, abs=6e-7))
    # the offsets are real: a WGS84 point given to AMap as is would be hundreds of metres off
    assert abs(glon - lon) * 98_000 + abs(glat - lat) * 111_000 > 200


def _point(store, layer, fid):
    frame = store.get(layer, fid)
    point = frame.geometry.iloc[0].representative_point()
    name = frame["name"].iloc[0] if "name" in frame.columns and frame["name"].iloc[0] else fid
    return point.x, point.y, str(name)


def test_nearby_rows_carry_links_to_each_project(client, demo_store):
    page = client.get("/map/nearby?lon=112.9454&lat=27.8313&radius_m=5000").text
    rows = re.findall(r'<li data-id="([^"]+)" data-layer="([^"]+)"', page)
    items = re.split(r"<li data-id=", page)[1:]
    assert rows and len(items) == len(rows)
    for (fid, layer), item in zip(rows, items, strict=True):
        links = {k: v[0] for k, v in _links(item).items()}
        _check(links, *_point(demo_store, layer, fid))


@pytest.mark.parametrize("path", ["/collections/reservoirs/items/{fid}?f=html", "/map/report/reservoirs/{fid}"])
def test_project_pages_carry_links(client, demo_store, path):
    fid = str(demo_store.read("reservoirs", limit=1)["id"].iloc[0])
    links = {k: v[0] for k, v in _links(client.get(path.format(fid=fid)).text).items()}
    _check(links, *_point(demo_store, "reservoirs", fid))


def test_context_layers_have_no_navigation(client, demo_store, registry):
    context = next(layer for layer in registry.all() if layer.kind != "project")
    fid = str(demo_store.read(context.id, limit=1)["id"].iloc[0])
    assert "pm-nav-amap" not in client.get(f"/collections/{context.id}/items/{fid}?f=html").text


def test_names_are_escaped_in_the_links():
    from geo.navigation import navigation_links

    links = navigation_links(112.9, 27.8, 'a&b "<x>"')
    assert parse_qs(urlsplit(links.amap).query)["to"][0].endswith('a&b "<x>"') and "<" not in links.amap
