"""The /review page decides several reports at once with the session's CSRF token; /admin/alerts for admins."""

import re
import time

import pytest
from fastapi.testclient import TestClient

from geo.storage.base import Filter
from layers.accounts import create_user
from layers.alerts import destinations
from layers.plans import current_plan, replace_plan
from layers.tokens import create_token

ORIGIN = "http://testserver"
PASSWORD = "planner password 1"


@pytest.fixture
def signed_in(writable_client, writable_store):
    stored = current_plan(writable_store)
    plan = stored.plan.model_copy(update={"review": {"farmland": "required"}})
    replace_plan(writable_store, plan.year, plan, stored.version, "test")
    create_user(writable_store, "li", role="planner", password=PASSWORD, actor="t", clock=time.time)
    create_user(writable_store, "root", role="admin", password=PASSWORD, actor="t", clock=time.time)

    def login(user):
        client = TestClient(writable_client.app, follow_redirects=False)
        signed = client.post("/login", data={"user": user, "password": PASSWORD}, headers={"Origin": ORIGIN})
        assert signed.status_code == 303
        return client

    return login


def csrf(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def field_reports(client, store, n):
    token = create_token(store, "zhang", "field", ["430321"])
    frame = store.read("farmland", Filter(equals={"county": "430321", "status": "in_progress"}), limit=n)
    keys = []
    for fid in frame["id"]:
        etag = client.get(f"/collections/farmland/items/{fid}").headers["etag"]
        headers = {"Authorization": f"Bearer {token}", "If-Match": etag}
        r = client.post(f"/collections/farmland/items/{fid}/progress", headers=headers, json={"status": "completed"})
        assert r.status_code == 202, r.text
        keys.append(r.json()["review"]["key"])
    return keys


def test_review_page_approves_several_at_once_with_csrf(signed_in, writable_client, writable_store):
    keys = field_reports(writable_client, writable_store, 3)
    before = writable_client.get("/progress/farmland").json()["done_features"]
    planner = signed_in("li")
    page = planner.get("/review", headers={"Accept": "text/html"})
    assert page.status_code == 200 and all(k in page.text for k in keys)
    items = re.findall(r'name="item" value="([^"]+)"', page.text)
    chosen = [i for i in items if i.split("/")[1] in keys[:2]]
    form = {"action": "approve", "item": chosen}
    assert planner.post("/review", data=form, headers={"Origin": ORIGIN}).status_code == 403  # no CSRF token
    done = planner.post("/review", data={**form, "csrf_token": csrf(page)}, headers={"Origin": ORIGIN})
    assert done.status_code == 200 and done.text.count("已通过") == 2
    assert writable_client.get("/progress/farmland").json()["done_features"] == before + 2
    rest = planner.get("/review", headers={"Accept": "text/html"})
    left = re.findall(r'name="item" value="([^"]+)"', rest.text)
    assert [i.split("/")[1] for i in left] == [keys[2]]
    refused = planner.post(
        "/review", data={"action": "reject", "item": left, "csrf_token": csrf(rest)}, headers={"Origin": ORIGIN}
    )
    assert "comment" in refused.text  # a rejection without a comment is refused, the report stays
    assert writable_client.get("/review?status=pending", headers={"Authorization": "x"}).status_code == 401


def test_admin_alerts_page_saves_destinations_with_csrf(signed_in, writable_store):
    admin = signed_in("root")
    page = admin.get("/admin/alerts", headers={"Accept": "text/html"})
    assert page.status_code == 200
    form = {"name": "wecom-ops", "kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}
    assert admin.post("/admin/alerts", data=form, headers={"Origin": ORIGIN}).status_code == 403
    saved = admin.post("/admin/alerts", data={**form, "csrf_token": csrf(page)}, headers={"Origin": ORIGIN})
    assert saved.status_code == 303
    bad = admin.post(
        "/admin/alerts", data={**form, "url": "ftp://x", "csrf_token": csrf(page)}, headers={"Origin": ORIGIN}
    )
    assert bad.status_code == 400 and "url" in bad.text
    assert [d["name"] for d in destinations(writable_store)] == ["wecom-ops"]
    data = admin.get("/admin/alerts?f=json").json()
    assert data["destinations"][0]["kind"] == "wecom" and "secret" not in data["destinations"][0]
    assert signed_in("li").get("/admin/alerts?f=json").status_code == 403
