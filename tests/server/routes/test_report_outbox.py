"""What the phone's outbox relies on: the capture time kept with a report, and keyed reports held for review.

Runs on both stores (``writable_client`` is parametrized over the GeoPackage and PostGIS).
"""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from geo.storage.base import Filter
from layers.plans import current_plan, replace_plan
from layers.review import review_kind
from layers.tokens import create_token


@pytest.fixture
def token(writable_store):
    return create_token(writable_store, "zhang", "field", ["430321"])


def _feature(client):
    frame = client.app.state.store.read("farmland", Filter(equals={"county": "430321", "status": "in_progress"}))
    return frame.sort_values("id").iloc[0]


def _post(client, token, fid, key, **kwargs):
    etag = client.get(f"/collections/farmland/items/{fid}").headers["etag"]
    headers = {"Authorization": f"Bearer {token}", "If-Match": etag, "Idempotency-Key": key}
    return client.post(f"/collections/farmland/items/{fid}/progress", headers=headers, **kwargs)


def _history(client, token, fid):
    headers = {"Authorization": f"Bearer {token}"}
    return client.get(f"/collections/farmland/items/{fid}/history", headers=headers).json()["entries"]


def test_capture_time_is_kept_with_the_report_in_utc(writable_client, token):
    feat = _feature(writable_client)
    made = (datetime.now(UTC) - timedelta(hours=5)).replace(microsecond=0)
    local = made.astimezone(UTC).replace(tzinfo=None).isoformat() + "+00:00"
    form = {"status": "in_progress", "percent": "97", "captured_at": local}
    r = _post(writable_client, token, feat["id"], str(uuid.uuid4()), data=form)
    assert r.status_code == 200, r.text
    last = _history(writable_client, token, feat["id"])[-1]
    assert last["percent"] == 97 and last["data"]["captured_at"] == made.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("value", "problem"),
    [("yesterday", "ISO 8601"), ("tomorrow", "future")],
)
def test_bad_capture_time_is_a_400_naming_it(writable_client, token, value, problem):
    if value == "tomorrow":  # made here, not at collection: every xdist worker must collect the same ids
        value = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    feat = _feature(writable_client)
    before = len(_history(writable_client, token, feat["id"]))
    r = _post(
        writable_client, token, feat["id"], str(uuid.uuid4()), json={"status": "in_progress", "captured_at": value}
    )
    assert r.status_code == 400 and "captured_at" in r.json()["description"] and problem in r.json()["description"]
    assert len(_history(writable_client, token, feat["id"])) == before


def test_capture_time_is_part_of_the_keyed_request(writable_client, token):
    feat = _feature(writable_client)
    key, when = str(uuid.uuid4()), datetime.now(UTC) - timedelta(minutes=30)
    body = {"status": "in_progress", "percent": 98, "captured_at": when.isoformat()}
    assert _post(writable_client, token, feat["id"], key, json=body).status_code == 200
    same = _post(writable_client, token, feat["id"], key, json=body)
    assert same.status_code == 200 and same.headers["idempotent-replayed"] == "true"
    moved = {**body, "captured_at": (when - timedelta(minutes=1)).isoformat()}
    assert _post(writable_client, token, feat["id"], key, json=moved).status_code == 422


@pytest.fixture
def review_on(writable_store):
    stored = current_plan(writable_store)
    plan = stored.plan.model_copy(update={"review": {"farmland": "required"}})
    replace_plan(writable_store, plan.year, plan, stored.version, "test")


def _reviews(client, fid):
    docs = client.app.state.store.records(review_kind("farmland"))
    return [d for d in docs if d.doc["feature_id"] == fid]


def test_a_keyed_report_held_for_review_is_held_once_and_replayed(writable_client, token, review_on):
    feat = _feature(writable_client)
    key, body = str(uuid.uuid4()), {"status": "completed", "note": "验收"}
    first = _post(writable_client, token, feat["id"], key, json=body)
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    again = _post(writable_client, token, feat["id"], key, json=body)
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["review"]["key"] == first.json()["review"]["key"]
    assert len(_reviews(writable_client, feat["id"])) == 1
    other = _post(writable_client, token, feat["id"], key, json={"status": "completed", "note": "另一份"})
    assert other.status_code == 422 and other.json()["code"] == "IdempotencyKeyReused"
    assert len(_reviews(writable_client, feat["id"])) == 1


def test_concurrent_keyed_reports_for_review_are_held_once(writable_client, token, review_on):
    feat = _feature(writable_client)
    key, body = str(uuid.uuid4()), {"status": "in_progress", "percent": 99}
    etag = writable_client.get(f"/collections/farmland/items/{feat['id']}").headers["etag"]
    headers = {"Authorization": f"Bearer {token}", "If-Match": etag, "Idempotency-Key": key}
    answers, start = [], threading.Barrier(4)

    def send():
        start.wait()
        url = f"/collections/farmland/items/{feat['id']}/progress"
        answers.append(writable_client.post(url, headers=headers, json=body))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [202] * 4, [a.text for a in answers]
    assert len({a.json()["review"]["key"] for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 3
    assert len(_reviews(writable_client, feat["id"])) == 1
