"""Reports carry the cumulative investment through the API (JSON and forms) into the lights' figures."""

from __future__ import annotations

from datetime import date

import pytest

from geo.storage.base import Filter
from layers.tokens import create_token


@pytest.fixture
def planner(writable_store):
    return {"Authorization": f"Bearer {create_token(writable_store, 'li', 'planner')}"}


def report(client, headers, fid, **kwargs):
    etag = client.get(f"/collections/farmland/items/{fid}", headers=headers).headers["etag"]
    return client.post(f"/collections/farmland/items/{fid}/progress", headers={**headers, "If-Match": etag}, **kwargs)


def test_reported_investment_is_stored_and_counted(writable_client, writable_store, planner):
    where = Filter(equals={"status": "in_progress"}, cql={"op": "like", "args": [{"property": "plan_years"}, "%2025%"]})
    feat = writable_store.read("farmland", where, limit=2)
    first, second = feat.iloc[0], feat.iloc[1]
    today = date.today().isoformat()
    before = writable_client.get(f"/lights?plan=2025&as_of={today}", headers=planner).json()["city"]["investment"]
    more = round(float(first["investment_done_wan"]) + 12.34, 2)
    body = {"status": "in_progress", "percent": float(first["progress_pct"]), "investment_done_wan": more}
    sent = report(writable_client, planner, first["id"], json=body)
    assert sent.status_code == 200, sent.text
    assert sent.json()["properties"]["investment_done_wan"] == more
    history = writable_client.get(f"/collections/farmland/items/{first['id']}/history", headers=planner).json()
    assert history["entries"][-1]["data"]["investment_done_wan"] == more
    form = {"status": "in_progress", "percent": str(second["progress_pct"]), "investment_done_wan": "0"}
    lower = report(writable_client, planner, second["id"], data=form)
    assert lower.status_code == 400 and "needs a note" in lower.json()["description"]
    negative = report(writable_client, planner, second["id"], data={**form, "investment_done_wan": "-5"})
    assert negative.status_code == 400 and "negative" in negative.json()["description"]
    after = writable_client.get(f"/lights?plan=2025&as_of={today}", headers=planner).json()["city"]["investment"]
    # the report's figure replaces the project's latest cumulative one (the demo keeps it on the feature too)
    assert after["done_wan"] == pytest.approx(before["done_wan"] + 12.34, abs=0.011)
