from datetime import date, timedelta

import pytest

from geo.storage.base import Filter
from layers.plans import current_plan, replace_plan
from layers.tokens import create_token


def today() -> date:
    """Today's date, read when asserting (a run may cross midnight)."""
    return date.today()


def yesterday() -> str:
    return (date.today() - timedelta(days=1)).isoformat()


@pytest.fixture
def tokens(writable_store):
    stored = current_plan(writable_store)
    plan = stored.plan.model_copy(update={"review": {"farmland": "required"}})
    replace_plan(writable_store, plan.year, plan, stored.version, "test")
    return {
        "field": create_token(writable_store, "zhang", "field", ["430321"]),
        "planner": create_token(writable_store, "li", "planner"),
    }


def auth(token, **headers):
    return {"Authorization": f"Bearer {token}", **headers}


def planned_feature(client):
    frame = client.app.state.store.read("farmland", Filter(equals={"county": "430321", "status": "in_progress"}))
    return frame.iloc[0]


def report(client, token, fid, body):
    etag = client.get(f"/collections/farmland/items/{fid}").headers["etag"]
    return client.post(
        f"/collections/farmland/items/{fid}/progress", headers=auth(token, **{"If-Match": etag}), json=body
    )


def numbers(client, as_of=None):
    query = f"?as_of={as_of}" if as_of else ""
    progress = client.get(f"/progress/farmland{query}").json()
    lights = client.get(f"/lights?layer=farmland{'&as_of=' + as_of if as_of else ''}").json()
    return progress["done_features"], progress["done_weighted"], lights


def pending(client, token):
    r = client.get("/review", headers=auth(token))
    assert r.status_code == 200, r.text
    return {x["key"]: x for x in r.json()["reviews"]}


def test_pending_counts_only_after_approval_and_replays_from_approval_on(writable_client, tokens):
    feat = planned_feature(writable_client)
    before = numbers(writable_client)
    r = report(
        writable_client, tokens["field"], feat["id"], {"status": "completed", "date": yesterday(), "note": "验收"}
    )
    assert r.status_code == 202, r.text
    review = r.json()["review"]
    assert review["status"] == "pending" and review["submitted_by"] == "zhang"
    assert numbers(writable_client) == before
    item = writable_client.get(f"/collections/farmland/items/{feat['id']}").json()
    assert item["properties"]["status"] == "in_progress"
    assert review["key"] in pending(writable_client, tokens["planner"])
    assert writable_client.get("/review", headers=auth(tokens["field"])).status_code == 403

    ok = writable_client.post(
        f"/review/farmland/{review['key']}/approve",
        headers=auth(tokens["planner"]),
        json={"version": review["version"]},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["review"]["status"] == "approved" and ok.json()["review"]["reviewed_by"] == "li"
    after = numbers(writable_client)
    assert after[0] == before[0] + 1 and after[1] > before[1] and after[2] != before[2]
    item = writable_client.get(f"/collections/farmland/items/{feat['id']}").json()
    assert item["properties"]["status"] == "completed"
    # dated by the report, existing from the approval on: yesterday's replay does not see it, today's does
    assert numbers(writable_client, yesterday())[0] == before[0]
    assert numbers(writable_client, today().isoformat())[0] == after[0]
    entries = writable_client.get(
        f"/collections/farmland/items/{feat['id']}/history", headers=auth(tokens["planner"])
    ).json()["entries"]
    last = entries[-1]
    assert last["date"] == yesterday() and last["author"] == "zhang"
    assert last["data"]["approved_on"] == today().isoformat() and last["data"]["review"]["approved_by"] == "li"
    again = writable_client.post(
        f"/review/farmland/{review['key']}/approve", headers=auth(tokens["planner"]), json={"version": 2}
    )
    assert again.status_code == 409


def test_reject_needs_a_comment_and_the_field_user_resubmits(writable_client, tokens):
    feat = planned_feature(writable_client)
    before = numbers(writable_client)
    first = report(writable_client, tokens["field"], feat["id"], {"status": "completed"}).json()["review"]
    url = f"/review/farmland/{first['key']}/reject"
    bare = writable_client.post(url, headers=auth(tokens["planner"]), json={"version": 1, "comment": "  "})
    assert bare.status_code == 400 and "comment" in bare.json()["description"]
    no = writable_client.post(url, headers=auth(tokens["planner"]), json={"version": 1, "comment": "照片不清楚,请补拍"})
    assert no.status_code == 200 and no.json()["review"]["status"] == "rejected"
    assert numbers(writable_client) == before
    page = writable_client.get(f"/map/report/farmland/{feat['id']}")
    assert "已退回" in page.text and "照片不清楚,请补拍" in page.text
    second = report(writable_client, tokens["field"], feat["id"], {"status": "completed", "note": "补拍"})
    assert second.status_code == 202
    key = second.json()["review"]["key"]
    assert "待审核" in writable_client.get(f"/map/report/farmland/{feat['id']}").text
    assert list(pending(writable_client, tokens["planner"])) == [key]
    ok = writable_client.post(f"/review/farmland/{key}/approve", headers=auth(tokens["planner"]), json={"version": 1})
    assert ok.status_code == 200
    assert numbers(writable_client)[0] == before[0] + 1
    audit = writable_client.get("/audit?f=json", headers=auth(tokens["planner"]))
    steps = [(c["step"], c["author"]) for c in audit.json()["review_changes"] if c["feature_id"] == feat["id"]]
    assert steps == [("approved", "li"), ("submitted", "zhang"), ("rejected", "li"), ("submitted", "zhang")]


def test_an_approval_meeting_a_newer_version_is_refused_and_stays_pending(writable_client, tokens):
    feat = planned_feature(writable_client)
    a = report(writable_client, tokens["field"], feat["id"], {"status": "in_progress", "percent": 95}).json()["review"]
    b = report(writable_client, tokens["field"], feat["id"], {"status": "completed"}).json()["review"]
    ok = writable_client.post(
        f"/review/farmland/{b['key']}/approve", headers=auth(tokens["planner"]), json={"version": 1}
    )
    assert ok.status_code == 200
    done = numbers(writable_client)
    stale = writable_client.post(
        f"/review/farmland/{a['key']}/approve", headers=auth(tokens["planner"]), json={"version": 1}
    )
    assert stale.status_code == 409 and "stays pending" in stale.json()["description"]
    assert pending(writable_client, tokens["planner"])[a["key"]]["status"] == "pending"
    assert numbers(writable_client) == done


def test_layers_without_review_record_at_once(writable_client, tokens):
    frame = writable_client.app.state.store.read("reservoirs", Filter(equals={"status": "in_progress"}), limit=1)
    fid = frame.iloc[0]["id"]
    planner = tokens["planner"]
    etag = writable_client.get(f"/collections/reservoirs/items/{fid}").headers["etag"]
    r = writable_client.post(
        f"/collections/reservoirs/items/{fid}/progress",
        headers=auth(planner, **{"If-Match": etag}),
        json={"status": "completed"},
    )
    assert r.status_code == 200 and r.json()["properties"]["status"] == "completed"
