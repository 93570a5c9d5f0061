"""The alert checks a write starts run in the background and end before the app closes its store."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from layers.tokens import create_token
from tests.conftest import make_app


def test_shutdown_waits_for_the_alert_checks_of_the_last_writes(writable_gpkg, monkeypatch):
    seen = []

    def slow_check(store, layers, config, feature):  # a check still reading the store when the app stops
        time.sleep(0.5)
        seen.append((feature, store.count(feature[0]) > 0))

    monkeypatch.setattr("server.alerting.run_alerts", slow_check)
    app = make_app(writable_gpkg)
    with TestClient(app) as client:
        store = app.state.store
        token = create_token(store, "qian", "planner")
        fid = store.read("farmland", limit=1)["id"].iloc[0]
        etag = client.get(f"/collections/farmland/items/{fid}").headers["etag"]
        posted = client.post(
            f"/collections/farmland/items/{fid}/progress",
            json={"status": "in_progress", "percent": 30, "note": "下班前上报"},
            headers={"Authorization": f"Bearer {token}", "If-Match": etag},
        )
        assert posted.status_code == 200, posted.text
        assert seen == []  # the answer did not wait for the check
    assert seen == [(("farmland", fid), True)]  # it read the store before the store closed
