"""Photo evidence: EXIF time and the phone's position kept with a report, doubtful reports flagged, a stamped copy."""

import io
import uuid
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from geo.measure import distance_to_geometry_m
from geo.storage.base import Filter
from layers.stamp import band_height, cjk_font_path
from layers.tokens import create_token

_EXIF_IFD, _DATETIME_ORIGINAL = 0x8769, 0x9003


@pytest.fixture
def token(writable_store):
    return create_token(writable_store, "zhang", "field", ["430321"])


def _jpeg(taken=None, size=(320, 240)):
    image = Image.new("RGB", size)
    pixels = np.indices((size[1], size[0])).sum(axis=0) % 256  # a gradient, so any change shows
    image = Image.fromarray(np.stack([pixels, pixels[::-1], 255 - pixels], axis=-1).astype("uint8"))
    exif = Image.Exif()
    if taken is not None:
        exif.get_ifd(_EXIF_IFD)[_DATETIME_ORIGINAL] = taken.strftime("%Y:%m:%d %H:%M:%S")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif)
    return out.getvalue()


def _feature(client):
    frame = client.app.state.store.read("farmland", Filter(equals={"county": "430321", "status": "in_progress"}))
    return frame.sort_values("id").iloc[0]


def _report(client, token, feat, photo=None, **position):
    url = f"/collections/farmland/items/{feat['id']}"
    etag = client.get(url).headers["etag"]
    headers = {"Authorization": f"Bearer {token}", "If-Match": etag, "Idempotency-Key": str(uuid.uuid4())}
    form = {"status": "in_progress", "percent": "99", **{f"position_{k}": str(v) for k, v in position.items()}}
    files = {"photo": ("p.jpg", photo)} if photo else None
    r = client.post(f"{url}/progress", headers=headers, data=form, files=files)
    assert r.status_code == 200, r.text
    return r.json()["report"]["seq"]


def _entry(client, token, feat, seq):
    history = client.get(
        f"/collections/farmland/items/{feat['id']}/history", headers={"Authorization": f"Bearer {token}"}
    ).json()
    return next(e for e in history["entries"] if e["seq"] == seq)


def _inside(feat):
    point = feat.geometry.representative_point()
    return point.x, point.y


def test_a_fresh_photo_taken_on_site_raises_no_flag(writable_client, token):
    feat = _feature(writable_client)
    lon, lat = _inside(feat)
    seq = _report(
        writable_client, token, feat, _jpeg(datetime.now() - timedelta(days=1)), lon=lon, lat=lat, accuracy_m=8
    )
    found = _entry(writable_client, token, feat, seq)["data"]["evidence"]
    assert found["flags"] == [] and found["position"]["distance_m"] == 0.0 and found["position"]["accuracy_m"] == 8
    assert found["photo_taken_at"][:10] == (date.today() - timedelta(days=1)).isoformat()


def test_old_photo_far_position_and_poor_accuracy_are_flagged(writable_client, token):
    feat = _feature(writable_client)
    lon, lat = _inside(feat)
    far_lon = lon + 0.02  # about 2 km east
    seq = _report(
        writable_client, token, feat, _jpeg(datetime.now() - timedelta(days=90)), lon=far_lon, lat=lat, accuracy_m=350
    )
    found = _entry(writable_client, token, feat, seq)["data"]["evidence"]
    assert sorted(found["flags"]) == ["far_from_project", "photo_old", "poor_accuracy"]
    want, _, _ = distance_to_geometry_m(far_lon, lat, feat.geometry)
    assert found["position"]["distance_m"] == pytest.approx(want, abs=0.1) and want > 500
    public = writable_client.get(f"/collections/farmland/items/{feat['id']}/history").json()
    entry = next(e for e in public["entries"] if e["seq"] == seq)
    assert entry["data"]["evidence"]["position"] == {"distance_m": found["position"]["distance_m"]}


def test_thresholds_come_from_the_settings(writable_store_url, writable_store, app_factory):
    from fastapi.testclient import TestClient

    token = create_token(writable_store, "zhang", "field", ["430321"])
    app = app_factory(
        writable_store_url, photo_max_age_days=365, report_max_distance_m=5000, position_max_accuracy_m=1000
    )
    with TestClient(app) as client:
        feat = _feature(client)
        lon, lat = _inside(feat)
        seq = _report(
            client, token, feat, _jpeg(datetime.now() - timedelta(days=90)), lon=lon + 0.02, lat=lat, accuracy_m=350
        )
        assert _entry(client, token, feat, seq)["data"]["evidence"]["flags"] == []


def test_a_position_alone_is_kept_and_half_a_position_is_refused(writable_client, token):
    feat = _feature(writable_client)
    lon, lat = _inside(feat)
    seq = _report(writable_client, token, feat, None, lon=lon, lat=lat)
    found = _entry(writable_client, token, feat, seq)["data"]["evidence"]
    assert found["flags"] == [] and "photo_taken_at" not in found and found["position"]["accuracy_m"] is None
    url = f"/collections/farmland/items/{feat['id']}"
    headers = {"Authorization": f"Bearer {token}", "If-Match": writable_client.get(url).headers["etag"]}
    bad = writable_client.post(f"{url}/progress", headers=headers, json={"status": "completed", "position_lon": 112})
    assert bad.status_code == 400 and "position_lat" in bad.json()["description"]


def test_stamped_copy_differs_only_in_the_band(writable_client, token):
    feat = _feature(writable_client)
    lon, lat = _inside(feat)
    seq = _report(writable_client, token, feat, _jpeg(datetime.now()), lon=lon, lat=lat, accuracy_m=5)
    base = f"/collections/farmland/items/{feat['id']}/progress/{seq}/photo"
    original = np.asarray(Image.open(io.BytesIO(writable_client.get(base).content)).convert("RGB")).astype(int)
    stamped_r = writable_client.get(f"{base}/stamped", headers={"Authorization": f"Bearer {token}"})
    assert stamped_r.status_code == 200 and stamped_r.headers["content-type"] == "image/png"
    stamped = np.asarray(Image.open(io.BytesIO(stamped_r.content)).convert("RGB")).astype(int)
    assert stamped.shape == original.shape
    top = original.shape[0] - band_height(original.shape[0])
    assert np.array_equal(stamped[:top], original[:top])  # the photo above the band is untouched
    band_diff = np.abs(stamped[top:] - original[top:]).mean()
    assert band_diff > 40
    text_pixels = (stamped[top:] > 200).all(axis=-1).sum()  # white text drawn on the dark band
    assert text_pixels > 50
    assert writable_client.get(f"{base}/stamped").status_code == 401


def test_the_cjk_font_is_found_through_fontconfig():
    from PIL import ImageFont

    font = ImageFont.truetype(cjk_font_path(), 24)
    # a font without Chinese glyphs draws every character as the same .notdef box
    masks = [bytes(font.getmask(ch)) for ch in "湘潭县"]
    assert len(set(masks)) == 3


def test_no_cjk_font_is_a_clear_503(writable_client, token, monkeypatch):
    import layers.stamp

    feat = _feature(writable_client)
    seq = _report(writable_client, token, feat, _jpeg(datetime.now()))
    monkeypatch.setattr(layers.stamp.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": ""})())
    layers.stamp.cjk_font_path.cache_clear()
    try:
        r = writable_client.get(
            f"/collections/farmland/items/{feat['id']}/progress/{seq}/photo/stamped",
            headers={"Authorization": f"Bearer {token}"},
        )
    finally:
        layers.stamp.cjk_font_path.cache_clear()
    assert r.status_code == 503 and "fonts-noto-cjk" in r.json()["description"]
