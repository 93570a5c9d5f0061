from html.parser import HTMLParser

import pytest

from geo.storage.base import Filter
from layers.tokens import create_token


@pytest.fixture
def tokens(writable_store):
    store = writable_store  # the store writable_client serves (GeoPackage or PostGIS)
    return {
        "planner": create_token(store, "li", "planner"),
        "field": create_token(store, "zhang", "field", ["430321"]),
    }


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


class Cells(HTMLParser):
    """Collect the text of every table row."""

    def __init__(self):
        super().__init__()
        self.rows, self._row, self._in_cell = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._row.append("")
            self._in_cell = True

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell and self._row:
            self._row[-1] += data.strip()


def test_a_new_report_heads_the_audit_with_its_author(writable_client, tokens):
    fid = writable_client.app.state.store.read(
        "farmland", Filter(equals={"county": "430321", "status": "in_progress"}), limit=1
    )["id"].iloc[0]
    etag = writable_client.get(f"/collections/farmland/items/{fid}").headers["etag"]
    r = writable_client.post(
        f"/collections/farmland/items/{fid}/progress",
        json={"status": "completed", "note": "竣工验收"},
        headers={**bearer(tokens["field"]), "If-Match": etag},
    )
    assert r.status_code == 200
    page = writable_client.get("/audit", params={"author": "zhang"}, headers=bearer(tokens["planner"])).json()
    assert page["numberMatched"] == 1
    entry = page["entries"][0]
    assert (entry["feature_id"], entry["author"], entry["status"], entry["note"]) == (
        fid,
        "zhang",
        "completed",
        "竣工验收",
    )
    assert entry["data"]["to"] == {"status": "completed", "percent": 100.0} and entry["is_demo"] is False
    newest = writable_client.get("/audit", params={"limit": 1}, headers=bearer(tokens["planner"])).json()
    assert newest["entries"][0]["seq"] == r.json()["report"]["seq"]
    assert (
        writable_client.get("/audit", params={"demo": "false"}, headers=bearer(tokens["planner"])).json()[
            "numberMatched"
        ]
        == 1
    )


def test_filters_and_paging(writable_client, tokens):
    h = bearer(tokens["planner"])
    june = writable_client.get(
        "/audit", params={"layer": "reservoirs", "from": "2025-06-01", "to": "2025-06-30", "limit": 5}, headers=h
    ).json()
    assert june["numberMatched"] > 5 and june["numberReturned"] == 5
    assert all(e["layer"] == "reservoirs" and e["date"].startswith("2025-06") for e in june["entries"])
    nxt = next(link["href"] for link in june["links"] if link["rel"] == "next")
    second = writable_client.get(nxt, headers=h).json()
    assert second["numberMatched"] == june["numberMatched"]
    assert second["entries"][0]["seq"] < june["entries"][-1]["seq"]
    fid = june["entries"][0]["feature_id"]
    one = writable_client.get("/audit", params={"feature": fid, "limit": 1000}, headers=h).json()
    assert one["numberMatched"] >= 1 and {e["feature_id"] for e in one["entries"]} == {fid}


@pytest.mark.parametrize(
    "params, status",
    [
        ({"from": "2025-07-01", "to": "2025-06-01"}, 400),
        ({"layer": "nowhere"}, 404),
        ({"from": "June"}, 400),
        ({"limit": 0}, 400),
    ],
)
def test_bad_filters(writable_client, tokens, params, status):
    r = writable_client.get("/audit", params=params, headers=bearer(tokens["planner"]))
    assert r.status_code == status and r.json()["status"] == status


def test_html_table_in_chinese(writable_client, tokens):
    r = writable_client.get(
        "/audit", params={"f": "html", "layer": "water-sections", "limit": 4}, headers=bearer(tokens["planner"])
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in r.text and "进度填报审计" in r.text
    parser = Cells()
    parser.feed(r.text.split("计划修改记录")[0])  # the reports' table (plan changes follow it)
    header, *rows = parser.rows
    assert header[:6] == ["序号", "记录时间", "填报日期", "图层", "要素", "填报人"]
    assert len(rows) == 4 and all(row[3] == "water-sections" for row in rows)
