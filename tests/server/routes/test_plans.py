"""Plans as data over HTTP on both stores: read, create, copy, replace with If-Match, delete drafts, refusals,
county progress against quotas, and progress limited to a plan year's projects."""

from __future__ import annotations

import json

import pytest

from layers.plan_model import seed_plan
from layers.tokens import create_token


@pytest.fixture
def tokens(writable_store):
    return {
        "planner": create_token(writable_store, "li", "planner"),
        "viewer": create_token(writable_store, "wang", "viewer"),
    }


def auth(token, **headers):
    return {"Authorization": f"Bearer {token}", **headers}


def test_the_2025_plan_is_seeded_from_the_work_plan(client):
    listing = client.get("/plans").json()
    assert listing["current"] == 2025
    assert [p["year"] for p in listing["plans"]] == [2025]
    plan = client.get("/plans/2025").json()
    farmland = next(t for t in plan["targets"] if t["layer"] == "farmland")
    assert (farmland["value"], farmland["unit_zh"], farmland["quote_zh"]) == (
        100000,
        "亩",
        "新建和改造提升高标准农田10万亩",
    )
    assert farmland["quotas"] == {"430321": 45000, "430381": 36000, "430382": 12000, "430302": 7000}
    assert plan["quota_sums"]["farmland"] == 100000
    assert seed_plan().model_dump(mode="json")["targets"] == plan["targets"]


def test_copy_2025_into_a_2026_draft_then_edit_it_with_if_match(writable_client, tokens):
    c, planner = writable_client, auth(tokens["planner"])
    made = c.post("/plans/2025/copy?to=2026", headers=planner)
    assert made.status_code == 201, made.text
    assert made.headers["Location"].endswith("/plans/2026")
    draft = made.json()
    assert draft["status"] == "draft" and draft["title_zh"] == "湘潭市2026年政府工作报告重点目标"
    original = c.get("/plans/2025").json()
    assert [t["layer"] for t in draft["targets"]] == [t["layer"] for t in original["targets"]]
    assert all(t["due"].startswith("2026-") for t in draft["targets"])
    assert [t["quotas"] for t in draft["targets"]] == [t["quotas"] for t in original["targets"]]
    # the current plan stays 2025 while 2026 is a draft
    assert c.get("/plans").json()["current"] == 2025

    etag = made.headers["ETag"]
    body = {k: v for k, v in draft.items() if k not in ("version", "quota_sums")}
    body["targets"][0] = {**body["targets"][0], "value": 80000, "quotas": {"430321": 40000, "430381": 30000}}
    assert c.put("/plans/2026", json=body, headers=planner).status_code == 428
    assert (
        c.put("/plans/2026", json=body, headers=auth(tokens["planner"], **{"If-Match": '"stale"'})).status_code == 412
    )
    saved = c.put("/plans/2026", json=body, headers=auth(tokens["planner"], **{"If-Match": etag}))
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 2 and saved.json()["quota_sums"]["farmland"] == 70000
    # the old ETag is stale now
    again = c.put("/plans/2026", json=body, headers=auth(tokens["planner"], **{"If-Match": etag}))
    assert again.status_code == 412
    history = c.get("/plans/2026/history", headers=planner).json()["revisions"]
    assert [(r["version"], r["action"], r["author"]) for r in history] == [(1, "create", "li"), (2, "update", "li")]
    assert history[1]["plan"]["targets"][0]["value"] == 80000

    # activating 2026 makes it the current plan; progress then counts 2026's projects against 2026's targets
    body["status"] = "active"
    c.put("/plans/2026", json=body, headers=auth(tokens["planner"], **{"If-Match": saved.headers["ETag"]}))
    assert c.get("/plans").json()["current"] == 2026
    farmland = c.get("/progress/farmland").json()
    assert farmland["target"] == 80000
    assert farmland["features"] == c.get("/collections/farmland/items?plan=2026&limit=1").json()["numberMatched"]


def test_writes_need_a_planner(writable_client, tokens):
    c = writable_client
    body = seed_plan().model_dump(mode="json") | {"year": 2030}
    assert c.post("/plans", json=body).status_code == 401
    assert c.post("/plans", json=body, headers=auth(tokens["viewer"])).status_code == 403
    assert c.post("/plans", json=body, headers=auth(tokens["planner"])).status_code == 201
    assert c.post("/plans", json=body, headers=auth(tokens["planner"])).status_code == 409


@pytest.mark.parametrize(
    ("change", "naming"),
    [
        (lambda t: t | {"layer": "nowhere"}, "unknown layer 'nowhere'"),
        (lambda t: t | {"layer": "counties"}, "context"),
        (lambda t: t | {"quotas": {"999999": 5}}, "unknown county"),
        (lambda t: t | {"quotas": {"430321": -5}}, "negative quota"),
        (lambda t: t | {"value": -1}, "value"),
        (lambda t: t | {"field": "name"}, "not a numeric field"),
        (lambda t: {k: v for k, v in t.items() if k != "field"}, "give `field`"),
        (lambda t: t | {"done_statuses": ["finished"]}, "unknown done status"),
        (lambda t: t | {"due": "2030-02-30"}, "due"),
    ],
)
def test_bad_plans_are_400_naming_the_problem_and_write_nothing(writable_client, tokens, change, naming):
    c = writable_client
    body = seed_plan().model_dump(mode="json") | {"year": 2031}
    body["targets"] = [change(body["targets"][0]), *body["targets"][1:]]
    response = c.post("/plans", json=body, headers=auth(tokens["planner"]))
    assert response.status_code == 400, response.text
    assert naming in json.dumps(response.json(), ensure_ascii=False)
    assert c.get("/plans/2031").status_code == 404


def test_a_year_with_a_plan_and_other_refusals(writable_client, tokens):
    c, planner = writable_client, auth(tokens["planner"])
    body = seed_plan().model_dump(mode="json")
    exists = c.post("/plans", json=body, headers=planner)
    assert exists.status_code == 409 and "2025" in exists.text
    assert c.post("/plans/2025/copy?to=2025", headers=planner).status_code == 409
    missing = c.get("/plans/2040")
    assert missing.status_code == 404 and "[2025]" in missing.text
    assert c.get("/progress/farmland?plan=2040").status_code == 404
    twice = body | {"year": 2032, "targets": [body["targets"][0], body["targets"][0]]}
    assert "more than one target" in c.post("/plans", json=twice, headers=planner).text
    etag = c.get("/plans/2025").headers["ETag"]
    moved = c.put("/plans/2025", json=body | {"year": 2033}, headers=auth(tokens["planner"], **{"If-Match": etag}))
    assert moved.status_code == 400 and "copy the plan" in moved.text
    active = c.delete("/plans/2025", headers=auth(tokens["planner"], **{"If-Match": etag}))
    assert active.status_code == 400 and "only a draft" in active.text
    made = c.post("/plans/2025/copy?to=2027", headers=planner)
    gone = c.delete("/plans/2027", headers=auth(tokens["planner"], **{"If-Match": made.headers["ETag"]}))
    assert gone.status_code == 204 and c.get("/plans/2027").status_code == 404
    log = c.get("/plans/2027/history", headers=planner).json()["revisions"]
    assert [r["action"] for r in log] == ["create", "delete"]


def test_county_rows_compare_with_their_quota(client):
    doc = client.get("/progress/farmland/counties").json()
    quotas = {"430321": 45000, "430381": 36000, "430382": 12000, "430302": 7000}
    assert doc["quota_sum"] == 100000 and doc["quota_gap"] == 0
    for row in doc["counties"]:
        assert row["quota"] == quotas.get(row["scope"])
        expected = None if row["scope"] not in quotas else round(100 * row["done"] / quotas[row["scope"]], 3)
        assert row["pct_quota"] == expected
    assert doc["total"]["target"] == 100000 and doc["total"]["quota"] is None
    geo = client.get("/progress/farmland/counties.geojson").json()
    by_id = {f["id"]: f["properties"] for f in geo["features"]}
    assert by_id["430321"]["quota"] == 45000


def test_plan_years_select_carry_overs_into_the_next_plan(client):
    every = client.get("/collections/farmland/items?limit=1000").json()["features"]
    in_2026 = {f["id"] for f in client.get("/collections/farmland/items?plan=2026&limit=1000").json()["features"]}
    assert in_2026 == {f["id"] for f in every if "2026" in f["properties"]["plan_years"].split(",")}
    assert 0 < len(in_2026) < len(every)
    assert all(f["properties"]["status"] != "completed" for f in every if f["id"] in in_2026)
    assert client.get("/collections/farmland/items?plan=1999").status_code == 400
