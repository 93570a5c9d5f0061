"""A report sent again with the same ``Idempotency-Key`` is recorded once and answered with the first answer."""

import io
import threading
import uuid
from datetime import date

import httpx
import pytest
from PIL import Image

from geo.errors import DuplicateRequest
from geo.storage.base import Filter, HistoryEntry, ReportKey
from layers import replies
from layers.registry import load_catalogue
from layers.tokens import create_token
from layers.updates import parse_report
from tests.conftest import make_app


@pytest.fixture
def token(writable_store):
    return create_token(writable_store, "zhang", "field", ["430321"])


def _feature(client):
    frame = client.app.state.store.read("farmland", Filter(equals={"county": "430321", "status": "in_progress"}))
    return frame.sort_values("id").iloc[0]


def _post(client, token, fid, etag, key, **kwargs):
    headers = {"Authorization": f"Bearer {token}", "If-Match": etag, "Idempotency-Key": key}
    return client.post(f"/collections/farmland/items/{fid}/progress", headers=headers, **kwargs)


def _entries(client, fid):
    return client.app.state.store.history("farmland", [fid])


def _jpeg(colour):
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


def test_same_key_replays_the_first_answer_even_after_the_etag_moved(writable_client, token):
    feat = _feature(writable_client)
    etag = writable_client.get(f"/collections/farmland/items/{feat['id']}").headers["etag"]
    key, before = str(uuid.uuid4()), len(_entries(writable_client, feat["id"]))
    body = {"status": "in_progress", "percent": 95, "note": "渠系完工"}
    first = _post(writable_client, token, feat["id"], etag, key, json=body)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    again = _post(
        writable_client, token, feat["id"], etag, key, json={"note": "渠系完工", "percent": "95.0", "status": "在建"}
    )
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
    assert len(_entries(writable_client, feat["id"])) == before + 1
    stored = writable_client.app.state.store.report_reply("farmland", key)
    assert stored.seq == first.json()["report"]["seq"] and stored.response["status"] == 200


def test_same_key_with_another_body_is_refused_and_records_nothing(writable_client, token):
    feat = _feature(writable_client)
    etag = writable_client.get(f"/collections/farmland/items/{feat['id']}").headers["etag"]
    key = str(uuid.uuid4())
    assert _post(
        writable_client, token, feat["id"], etag, key, json={"status": "in_progress", "percent": 96}
    ).is_success
    count = len(_entries(writable_client, feat["id"]))
    other = _post(writable_client, token, feat["id"], etag, key, json={"status": "in_progress", "percent": 97})
    assert other.status_code == 422 and other.json()["code"] == "IdempotencyKeyReused"
    assert len(_entries(writable_client, feat["id"])) == count


def test_photo_bytes_are_part_of_the_request(writable_client, token):
    feat = _feature(writable_client)
    etag = writable_client.get(f"/collections/farmland/items/{feat['id']}").headers["etag"]
    key, form = str(uuid.uuid4()), {"status": "in_progress", "percent": "96"}
    first = _post(writable_client, token, feat["id"], etag, key, data=form, files={"photo": ("a.jpg", _jpeg("red"))})
    same = _post(writable_client, token, feat["id"], etag, key, data=form, files={"photo": ("b.jpg", _jpeg("red"))})
    other = _post(writable_client, token, feat["id"], etag, key, data=form, files={"photo": ("a.jpg", _jpeg("blue"))})
    assert first.status_code == 200 and same.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422


@pytest.mark.parametrize("key", ["short", "has space inside it", "x" * 129, "slash/in-the-key-1234"])
def test_malformed_keys_are_refused(writable_client, token, key):
    feat = _feature(writable_client)
    etag = writable_client.get(f"/collections/farmland/items/{feat['id']}").headers["etag"]
    r = _post(writable_client, token, feat["id"], etag, key, json={"status": "in_progress", "percent": 99})
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["description"]


def test_a_report_committed_but_never_answered_is_answered_on_retry(writable_client, token):
    store, layer = writable_client.app.state.store, load_catalogue().get("farmland")
    feat = _feature(writable_client)
    fields = {"status": "in_progress", "percent": 98}
    key = str(uuid.uuid4())
    fp = replies.fingerprint(feat["id"], parse_report(layer, fields), None, "zhang")
    entry = HistoryEntry("farmland", feat["id"], date.today(), "in_progress", 98.0, author="zhang")
    store.record_progress(entry, {"progress_pct": 98.0}, key=ReportKey(key, fp, "zhang"))  # the answer was lost
    count = len(_entries(writable_client, feat["id"]))
    retry = _post(writable_client, token, feat["id"], '"stale"', key, json=fields)
    assert retry.status_code == 200 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["properties"]["progress_pct"] == 98 and len(_entries(writable_client, feat["id"])) == count
    assert retry.json()["report"]["seq"] == int(_entries(writable_client, feat["id"])["seq"].max())
    later = _post(writable_client, token, feat["id"], '"stale"', key, json=fields)
    assert later.json() == retry.json() and later.headers["etag"] == retry.headers["etag"]


def test_a_stale_report_says_whether_resubmitting_is_safe(writable_client, token):
    feat = _feature(writable_client)
    etag = writable_client.get(f"/collections/farmland/items/{feat['id']}").headers["etag"]
    assert _post(
        writable_client, token, feat["id"], etag, str(uuid.uuid4()), json={"status": "in_progress", "percent": 90}
    ).is_success
    forward = _post(writable_client, token, feat["id"], etag, str(uuid.uuid4()), json={"status": "completed"})
    backward = _post(
        writable_client,
        token,
        feat["id"],
        etag,
        str(uuid.uuid4()),
        json={"status": "in_progress", "percent": 50, "note": "返工"},
    )
    assert forward.status_code == backward.status_code == 412
    assert forward.json()["resubmitSafe"] is True and backward.json()["resubmitSafe"] is False
    assert backward.json()["current"] | {"etag": None} == {
        "status": "in_progress",
        "percent": 90.0,
        "latestReport": date.today().isoformat(),
        "etag": None,
    }
    assert "backwards" in backward.json()["reason"]


def test_two_stores_recording_one_key_at_once_record_it_once(writable_store_url, writable_store):
    feat = writable_store.read("farmland", Filter(equals={"county": "430321"}), limit=1).iloc[0]
    key = ReportKey(str(uuid.uuid4()), "f" * 64, "zhang")
    entry = HistoryEntry("farmland", feat["id"], date.today(), "in_progress", 99.0, author="zhang")
    barrier, outcomes = threading.Barrier(4), []

    def record():
        with writable_store_url.open() as store:  # its own connections and locks, as another process has
            barrier.wait()
            try:
                store.record_progress(entry, {"progress_pct": 99.0}, key=key)
                outcomes.append("recorded")
            except DuplicateRequest:
                outcomes.append("duplicate")

    threads = [threading.Thread(target=record) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "recorded"]
    history = writable_store.history("farmland", [feat["id"]])
    assert (history["percent"] == 99.0).sum() == 1
    assert writable_store.report_reply("farmland", key.key).seq == int(history["seq"].max())


def test_concurrent_retries_over_http_make_one_entry_and_the_same_answer(writable_store_url, token, serve):
    apps = [make_app(writable_store_url), make_app(writable_store_url)]  # two servers on one store
    with serve(apps[0]) as one, serve(apps[1]) as two:
        fid = httpx.get(f"{one}/collections/farmland/items?county=430321&status=in_progress&limit=1").json()
        fid = fid["features"][0]["id"]
        etag = httpx.get(f"{one}/collections/farmland/items/{fid}").headers["etag"]
        headers = {"Authorization": f"Bearer {token}", "If-Match": etag, "Idempotency-Key": str(uuid.uuid4())}
        barrier, answers = threading.Barrier(6), []

        def send(base):
            barrier.wait()
            answers.append(
                httpx.post(
                    f"{base}/collections/farmland/items/{fid}/progress",
                    headers=headers,
                    json={"status": "in_progress", "percent": 99.5},
                    timeout=30,
                )
            )

        threads = [threading.Thread(target=send, args=(b,)) for b in (one, two) * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert [a.status_code for a in answers] == [200] * 6
        assert sum(a.headers.get("idempotent-replayed") != "true" for a in answers) <= 1
        assert len({a.headers["etag"] for a in answers}) == 1 and len({a.content for a in answers}) == 1
        history = httpx.get(f"{one}/collections/farmland/items/{fid}/history").json()["entries"]
        assert sum(e["percent"] == 99.5 for e in history) == 1
