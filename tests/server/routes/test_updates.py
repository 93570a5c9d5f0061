import io
from datetime import date

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

import shapely

from geo.measure import distance_to_geometry_m
from geo.storage.base import Filter
from geo.tms import get_tms
from layers.tokens import create_token


def today() -> str:
    """Today's date, read when asserting (a run may cross midnight)."""
    return date.today().isoformat()


@pytest.fixture
def tokens(writable_store):
    store = writable_store  # the store writable_client serves (GeoPackage or PostGIS)
    return {
        "field": create_token(store, "zhang", "field", ["430321"]),
        "viewer": create_token(store, "wang", "viewer"),
        "planner": create_token(store, "li", "planner"),
    }


def auth(token, **headers):
    return {"Authorization": f"Bearer {token}", **headers}


def pick(client, layer="farmland", **equals):
    frame = client.app.state.store.read(layer, Filter(equals=equals), limit=1)
    return frame.iloc[0]


def item_url(layer, fid):
    return f"/collections/{layer}/items/{fid}"


def post(client, token, layer, fid, etag, **kwargs):
    headers = auth(token) if etag is None else auth(token, **{"If-Match": etag})
    return client.post(f"{item_url(layer, fid)}/progress", headers=headers, **kwargs)


def test_report_moves_the_state_records_history_and_returns_the_new_etag(writable_client, tokens):
    feat = pick(writable_client, county="430321", status="in_progress")
    before = writable_client.get(item_url("farmland", feat["id"]))
    items_etag = writable_client.get("/collections/farmland/items").headers["etag"]
    body = {"status": "in_progress", "percent": max(feat["progress_pct"], 80.0), "note": "渠系完工"}
    r = post(writable_client, tokens["field"], "farmland", feat["id"], before.headers["etag"], json=body)
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["progress_pct"] == body["percent"] and r.json()["properties"]["updated_at"] == today()
    after = writable_client.get(item_url("farmland", feat["id"]), headers=auth(tokens["field"]))
    assert r.headers["etag"] == after.headers["etag"] != before.headers["etag"]
    public_after = writable_client.get(item_url("farmland", feat["id"]))
    assert public_after.headers["etag"] not in (after.headers["etag"], before.headers["etag"])
    assert after.json()["properties"]["progress_pct"] == body["percent"]
    assert writable_client.get("/collections/farmland/items").headers["etag"] != items_etag
    entries = writable_client.get(f"{item_url('farmland', feat['id'])}/history").json()["entries"]
    last = entries[-1]
    assert last["seq"] == r.json()["report"]["seq"] and last["note"] == "渠系完工" and last["date"] == today()
    assert last["data"]["from"] == {"status": "in_progress", "percent": feat["progress_pct"]}
    assert "author" not in last
    private = writable_client.get(f"{item_url('farmland', feat['id'])}/history", headers=auth(tokens["viewer"]))
    assert private.json()["entries"][-1]["author"] == "zhang"


def test_if_match_is_required_and_stale_versions_are_refused(writable_client, tokens):
    feat = pick(writable_client, county="430321", status="in_progress")
    body = {"status": "in_progress", "percent": 99}
    missing = post(writable_client, tokens["field"], "farmland", feat["id"], None, json=body)
    assert missing.status_code == 428 and missing.json()["code"] == "VersionRequired"
    assert post(writable_client, tokens["field"], "farmland", feat["id"], "*", json=body).status_code == 428
    etag = writable_client.get(item_url("farmland", feat["id"])).headers["etag"]
    first = post(writable_client, tokens["field"], "farmland", feat["id"], etag, json=body)
    second = post(writable_client, tokens["planner"], "farmland", feat["id"], etag, json={"status": "completed"})
    assert first.status_code == 200 and second.status_code == 412
    stale = second.json()
    assert {k: stale[k] for k in ("code", "status")} == {"code": "StaleVersion", "status": 412}
    assert stale["current"]["status"] == "in_progress" and stale["current"]["percent"] == 99
    assert stale["current"]["etag"] == first.headers["etag"] and stale["resubmitSafe"] is True
    history = writable_client.app.state.store.history("farmland", [feat["id"]])
    assert list(history["author"].iloc[-1:]) == ["zhang"] and (history["author"] == "li").sum() == 0
    retry = post(
        writable_client, tokens["planner"], "farmland", feat["id"], first.headers["etag"], json={"status": "completed"}
    )
    assert retry.status_code == 200 and retry.json()["properties"]["status"] == "completed"


@pytest.mark.parametrize(
    "body, status, text",
    [
        ({"status": "finished"}, 400, "not a status"),
        ({"status": "completed", "percent": 80}, 400, "100 %"),
        ({"status": "in_progress", "percent": 150}, 400, "between 0 and 100"),
        ({"status": "in_progress", "percent": 50, "date": "2099-01-01"}, 400, "future"),
        ({"status": "in_progress", "percent": 50, "date": "2023-06-01"}, 400, "2024-01-01"),
        ({"status": "in_progress", "percent": 50, "date": "2025-02-30"}, 400, "YYYY-MM-DD"),
    ],
)
def test_invalid_reports_are_400_and_record_nothing(writable_client, tokens, body, status, text):
    feat = pick(writable_client, county="430321", status="in_progress")
    etag = writable_client.get(item_url("farmland", feat["id"])).headers["etag"]
    before = len(writable_client.app.state.store.history("farmland", [feat["id"]]))
    r = post(writable_client, tokens["field"], "farmland", feat["id"], etag, json=body)
    assert r.status_code == status and text in r.json()["description"]
    assert len(writable_client.app.state.store.history("farmland", [feat["id"]])) == before


def test_unknown_feature_and_bad_bodies(writable_client, tokens):
    assert (
        post(writable_client, tokens["planner"], "farmland", "FL-9999", '"x"', json={"status": "planned"}).status_code
        == 404
    )
    assert (
        post(writable_client, tokens["planner"], "nowhere", "FL-1", '"x"', json={"status": "planned"}).status_code
        == 404
    )
    r = writable_client.post(
        "/collections/farmland/items/FL-001/progress",
        content=b"{not json",
        headers=auth(tokens["planner"], **{"If-Match": '"x"', "Content-Type": "application/json"}),
    )
    assert r.status_code == 400 and "JSON" in r.json()["description"]
    text = writable_client.post(
        "/collections/farmland/items/FL-001/progress",
        content=b"status=planned",
        headers=auth(tokens["planner"], **{"If-Match": '"x"', "Content-Type": "text/plain"}),
    )
    assert text.status_code == 400 and "multipart" in text.json()["description"]


def test_completion_shows_in_tiles_progress_and_maps_at_once(writable_client, tokens):
    feat = pick(writable_client, county="430321", status="in_progress")
    point = shapely.point_on_surface(writable_client.app.state.store.get("farmland", feat["id"]).geometry.iloc[0])
    tile = get_tms("WebMercatorQuad").tile(point.x, point.y, 14)
    tile_url = f"/tiles/farmland/{tile.z}/{tile.x}/{tile.y}.mvt"
    tile_before = writable_client.get(tile_url)
    done_before = writable_client.get("/progress/farmland").json()["done_features"]
    etag = writable_client.get(item_url("farmland", feat["id"])).headers["etag"]
    r = post(writable_client, tokens["field"], "farmland", feat["id"], etag, json={"status": "completed"})
    assert r.status_code == 200 and r.json()["properties"]["completed_date"] == today()
    tile_after = writable_client.get(tile_url, headers={"If-None-Match": tile_before.headers["etag"]})
    assert tile_after.status_code == 200 and tile_after.headers["etag"] != tile_before.headers["etag"]
    decoded = mapbox_vector_tile.decode(tile_after.content, default_options={"y_coord_down": True})
    props = {f["properties"]["id"]: f["properties"] for f in decoded["farmland"]["features"]}
    assert props[feat["id"]]["status"] == "completed" and props[feat["id"]]["progress_pct"] == 100.0
    assert writable_client.get("/progress/farmland").json()["done_features"] == done_before + 1
    mapped = writable_client.get("/map/data/farmland").json()["features"]
    assert next(f for f in mapped if f["properties"]["id"] == feat["id"])["properties"]["status"] == "completed"


def test_water_section_reading_is_classified(writable_client, tokens):
    section = pick(writable_client, "water-sections", county="430321")
    etag = writable_client.get(item_url("water-sections", section["id"])).headers["etag"]
    reading = {"DO": 4.0, "CODMn": 7.5, "NH3N": 0.4, "TP": 0.12, "note": "加密监测"}
    r = post(writable_client, tokens["field"], "water-sections", section["id"], etag, json=reading)
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert props["status"] == "non_compliant" and props["latest_class"] == "IV" and props["latest_month"] == today()[:7]
    last = writable_client.get(f"{item_url('water-sections', section['id'])}/history").json()["entries"][-1]
    assert last["data"]["class"] == "IV" and last["data"]["DO"] == 4.0 and last["status"] == "non_compliant"
    compliance = writable_client.get("/progress/water-sections/compliance").json()
    mine = next(s for s in compliance["sections"] if s["id"] == section["id"])
    assert mine["latest_class"] == "IV" and mine["compliant"] is False
    wrong = post(
        writable_client,
        tokens["field"],
        "water-sections",
        section["id"],
        r.headers["etag"],
        json={"status": "compliant"},
    )
    assert wrong.status_code == 400 and "DO" in wrong.json()["description"]


def photo_bytes(lon, lat, size=(2400, 1800), fmt="JPEG"):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {
        1: "N",
        2: (IFDRational(int(lat)), IFDRational(int((lat % 1) * 60 * 1000), 1000), IFDRational(0)),
        3: "E",
        4: (IFDRational(int(lon)), IFDRational(int((lon % 1) * 60 * 1000), 1000), IFDRational(0)),
    }
    out = io.BytesIO()
    Image.new("RGB", size, (90, 140, 60)).save(out, fmt, exif=exif)
    return out.getvalue()


def test_multipart_report_with_photo_records_distance_and_serves_a_clean_jpeg(
    writable_client, writable_store_url, tokens
):
    feat = pick(writable_client, county="430321", status="in_progress")
    geom = writable_client.app.state.store.get("farmland", feat["id"]).geometry.iloc[0]
    near = shapely.point_on_surface(geom)
    lon, lat = near.x + 0.01, near.y
    etag = writable_client.get(item_url("farmland", feat["id"])).headers["etag"]
    form = {"status": "in_progress", "percent": "100", "note": "现场照片"}
    files = {"photo": ("site.jpg", photo_bytes(lon, lat), "image/jpeg")}
    r = post(writable_client, tokens["field"], "farmland", feat["id"], etag, data=form, files=files)
    assert r.status_code == 200, r.text
    seq = r.json()["report"]["seq"]
    entry = writable_client.get(f"{item_url('farmland', feat['id'])}/history", headers=auth(tokens["planner"])).json()[
        "entries"
    ][-1]
    photo = entry["data"]["photo"]
    expected = distance_to_geometry_m(photo["lon"], photo["lat"], geom)[0]
    assert photo["distance_m"] == pytest.approx(expected, abs=0.5) and 300 < photo["distance_m"] < 1200
    assert (photo["width"], photo["height"]) == (1600, 1200)
    public = writable_client.get(f"{item_url('farmland', feat['id'])}/history").json()["entries"][-1]
    assert set(public["data"]["photo"]) == {"width", "height", "bytes", "distance_m"}
    served = writable_client.get(f"{item_url('farmland', feat['id'])}/progress/{seq}/photo")
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(served.content))
    assert image.size == (1600, 1200) and dict(image.getexif()) == {}
    assert (writable_store_url.data_dir / "photos" / "farmland" / feat["id"] / f"{seq}.jpg").is_file()
    page = writable_client.get("/audit", params={"f": "html", "feature": feat["id"]}, headers=auth(tokens["planner"]))
    assert page.status_code == 200 and f"/progress/{seq}/photo" in page.text and "距项目" in page.text
    assert writable_client.get(f"{item_url('farmland', feat['id'])}/progress/{seq - 1}/photo").status_code == 404


def test_photo_limits(app_factory, writable_store_url, tokens):
    feat_id = "FL-001"
    with TestClient(app_factory(writable_store_url, max_photo_bytes=5000)) as client:
        feat = pick(client, county="430321", status="in_progress")
        feat_id = feat["id"]
        etag = client.get(item_url("farmland", feat_id)).headers["etag"]
        version = client.app.state.store.feature_version("farmland", feat_id)
        big = {"photo": ("a.jpg", photo_bytes(112.9, 27.8), "image/jpeg")}
        r = post(
            client,
            tokens["field"],
            "farmland",
            feat_id,
            etag,
            data={"status": "in_progress", "percent": "99"},
            files=big,
        )
        assert r.status_code == 413 and r.json()["code"] == "PhotoTooLarge"
        junk = {"photo": ("a.jpg", b"\xff\xd8 not an image", "image/jpeg")}
        r = post(
            client,
            tokens["field"],
            "farmland",
            feat_id,
            etag,
            data={"status": "in_progress", "percent": "99"},
            files=junk,
        )
        assert r.status_code == 400 and "JPEG or PNG" in r.json()["description"]
        assert client.app.state.store.feature_version("farmland", feat_id) == version  # nothing recorded
        assert not list((writable_store_url.data_dir / "photos").rglob("pending-*"))  # nothing left staged


@pytest.mark.parametrize(
    ("raw", "naming"),
    [
        (b'{"status": "in_progress", "percent": 90, "note": "\\ud800"}', "note"),
        (b'{"status": "in_progress", "percent": 90, "note": "a\\u0000b"}', "note"),
        (b'{"status": "in_\\u0000progress", "percent": 90}', "status"),
        (b'{"status": "in_progress", "percent": 90, "\\udfff": 1}', "field name"),
    ],
)
def test_lone_surrogates_and_nul_are_400_naming_the_field(writable_client, tokens, raw, naming):
    """Runs on both stores: PostgreSQL refuses NUL, and neither store can encode a lone surrogate."""
    feat = pick(writable_client, county="430321", status="in_progress")
    url = item_url("farmland", feat["id"])
    before = writable_client.get(url)
    headers = auth(tokens["field"], **{"If-Match": before.headers["etag"], "content-type": "application/json"})
    response = writable_client.post(f"{url}/progress", content=raw, headers=headers)
    assert response.status_code == 400, response.text
    assert naming in response.json()["description"]
    assert writable_client.get(url).headers["etag"] == before.headers["etag"]
    form = {"status": "in_progress", "percent": "90", "note": "a\x00b"}
    response = writable_client.post(
        f"{url}/progress", data=form, headers=auth(tokens["field"], **{"If-Match": before.headers["etag"]})
    )
    assert response.status_code == 400 and "note" in response.json()["description"]
