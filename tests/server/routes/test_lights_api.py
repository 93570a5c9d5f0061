"""GET /lights, /lights.geojson, lights on items, MVT tiles and the progress page, on both stores."""

from __future__ import annotations

import json
from datetime import date

import mapbox_vector_tile
import pytest

from layers.tokens import create_token

AS_OF = "2025-06-30"
COUNTIES = ("430302", "430304", "430321", "430381", "430382")
LIT = (
    "farmland",
    "reservoirs",
    "logistics-hubs",
    "transport-links",
    "old-communities",
    "black-odorous-waters",
    "road-junctions",
    "emergency-stations",
)


@pytest.fixture
def planner(writable_store):
    return {"Authorization": f"Bearer {create_token(writable_store, 'li', 'planner')}"}


@pytest.fixture
def viewer(writable_store):
    return {"Authorization": f"Bearer {create_token(writable_store, 'wang', 'viewer')}"}


def expected_investment(store, as_of: date, year: int = 2025, county: str | None = None):
    """Recompute the year's plan and completed investment from the raw rows, independently of layers.lights."""
    plan = done = 0.0
    for layer in LIT:
        frame = store.read(layer)
        frame = frame[frame["plan_years"].str.split(",").apply(lambda years: str(year) in years)]
        if county:
            frame = frame[frame["county"] == county]
        ids = set(frame["id"])
        for value in frame["investment_plan_wan"]:
            doc = json.loads(value) if isinstance(value, str) else value
            if doc and str(year) in doc:
                plan += float(doc[str(year)])
        latest_now, latest_before = {}, {}
        for row in store.history(layer).itertuples():
            data = (
                json.loads(row.data) if isinstance(row.data, str) else (row.data if isinstance(row.data, dict) else {})
            )
            if row.feature_id not in ids or "investment_done_wan" not in data:
                continue
            if row.date <= as_of.isoformat():
                latest_now[row.feature_id] = data["investment_done_wan"]
            if row.date <= f"{year - 1}-12-31":
                latest_before[row.feature_id] = data["investment_done_wan"]
        done += sum(latest_now.values()) - sum(latest_before.values())
    return plan, done


def test_investment_and_sentence_match_a_recomputation(writable_client, writable_store, planner):
    got = writable_client.get(f"/lights?plan=2025&as_of={AS_OF}", headers=planner)
    assert got.status_code == 200, got.text
    body = got.json()
    plan, done = expected_investment(writable_store, date(2025, 6, 30))
    city = body["city"]["investment"]
    assert city["plan_wan"] == pytest.approx(plan, abs=0.01) and city["done_wan"] == pytest.approx(done, abs=0.01)
    rate = round(round(done, 2) / round(plan, 2) * 100, 1)
    time_pct = round(180 / 365 * 100, 1)
    assert (city["rate_pct"], city["time_pct"], body["time_pct"]) == (rate, time_pct, time_pct)
    word = "超过" if rate >= time_pct else "落后"
    amount = f"{round(done, 2):.2f}".rstrip("0").rstrip(".")
    assert (
        city["sentence"]
        == f"累计完成投资 {amount} 万元，占年度计划 {rate:.1f}%，{word}时间进度 {abs(rate - time_pct):.1f} 个百分点"
    )
    county = next(c for c in body["counties"] if c["scope"] == "430321")
    c_plan, c_done = expected_investment(writable_store, date(2025, 6, 30), county="430321")
    assert county["investment"]["done_wan"] == pytest.approx(c_done, abs=0.01)
    assert county["investment"]["plan_wan"] == pytest.approx(c_plan, abs=0.01)
    assert "plan_year_wan" in body["projects"][0]


def test_counts_add_up_and_only_the_plan_year_counts(client):
    body = client.get(f"/lights?as_of={AS_OF}").json()
    city = body["city"]["counts"]
    assert city["projects"] == city["green"] + city["yellow"] + city["red"] + city["unscheduled"] > 0
    assert [c["scope"] for c in body["counties"]] == list(COUNTIES)
    assert sum(c["counts"]["projects"] for c in body["counties"]) == city["projects"] == len(body["projects"])
    assert [x["scope"] for x in body["layers"]] == list(LIT)
    assert sum(x["counts"]["red"] for x in body["layers"]) == city["red"]
    for row in body["projects"]:
        if row["light"] and row["reason"] not in ("done_late", "overdue", "not_started"):
            rules = body["rules"]
            lag = row["lag_pts"]
            expected = "red" if lag >= rules["red_lag_pts"] else "yellow" if lag >= rules["yellow_lag_pts"] else "green"
            assert row["light"] == expected or row["reason"] == "on_time"
    at_year_end = client.get("/lights?plan=2025&as_of=2025-12-31").json()["city"]["counts"]["projects"]
    assert at_year_end == city["projects"]


def test_county_and_layer_narrow_the_rows_not_the_city(client):
    whole = client.get(f"/lights?as_of={AS_OF}").json()
    county = client.get(f"/lights?as_of={AS_OF}&county=430321").json()
    assert county["city"] == whole["city"] and [c["scope"] for c in county["counties"]] == ["430321"]
    assert {p["county"] for p in county["projects"]} == {"430321"}
    one = client.get(f"/lights?as_of={AS_OF}&layer=reservoirs").json()
    assert {p["layer"] for p in one["projects"]} == {"reservoirs"} and one["city"]["counts"]["projects"] == 25


def test_anonymous_and_viewers_get_no_investment(writable_client, viewer):
    for headers in ({}, viewer):
        body = writable_client.get(f"/lights?as_of={AS_OF}", headers=headers).json()
        assert body["city"]["investment"] is None and all(c["investment"] is None for c in body["counties"])
        assert not any(k.startswith("investment") or k.endswith("_wan") for k in body["projects"][0])
        geo = writable_client.get(f"/lights.geojson?as_of={AS_OF}", headers=headers).json()
        assert not any(k.endswith("_wan") for k in geo["features"][0]["properties"])


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("plan=1999", 400),
        ("plan=2031", 404),
        ("as_of=2025-13-01", 400),
        ("as_of=1900-01-01", 400),
        ("layer=nope", 404),
        ("layer=water-sections", 400),
        ("layer=counties", 400),
        ("county=999999", 404),
    ],
)
def test_bad_parameters_are_4xx(client, query, status):
    got = client.get(f"/lights?{query}")
    assert got.status_code == status and got.json()["description"]
    assert client.get(f"/lights.geojson?{query}").status_code == status


def test_geojson_carries_light_and_geometry(client):
    doc = client.get(f"/lights.geojson?as_of={AS_OF}&layer=reservoirs").json()
    assert doc["type"] == "FeatureCollection" and doc["numberReturned"] == len(doc["features"]) == 25
    feature = doc["features"][0]
    assert feature["geometry"]["type"] == "Point"
    assert feature["properties"]["light"] in ("green", "yellow", "red")
    table = {p["id"]: p["light"] for p in client.get(f"/lights?as_of={AS_OF}&layer=reservoirs").json()["projects"]}
    assert {f["id"]: f["properties"]["light"] for f in doc["features"]} == table


def test_items_carry_the_light_of_the_day(client):
    table = {p["id"]: p for p in client.get(f"/lights?as_of={AS_OF}&layer=reservoirs").json()["projects"]}
    items = client.get(f"/collections/reservoirs/items?as_of={AS_OF}&limit=30").json()["features"]
    for feature in items:
        props, row = feature["properties"], table[feature["id"]]
        assert (props["light"], props["lag_pts"], props["elapsed_pct"]) == (
            row["light"],
            row["lag_pts"],
            row["elapsed_pct"],
        )
    today = client.get("/collections/reservoirs/items?limit=2").json()["features"]
    assert all(f["properties"]["light"] in ("green", "yellow", "red") for f in today)
    context = client.get("/collections/counties/items?limit=1").json()["features"][0]["properties"]
    assert "light" not in context


def test_mvt_tiles_carry_the_light(client):
    table = {p["id"]: p["light"] for p in client.get(f"/lights?as_of={AS_OF}").json()["projects"]}
    tile = client.get(f"/tiles/plan/8/208/107.mvt?as_of={AS_OF}&lights=true")
    assert tile.status_code == 200
    layers = mapbox_vector_tile.decode(tile.content)
    seen = [f["properties"] for f in layers["reservoirs"]["features"]]
    assert seen and all(p["light"] == table[p["id"]] for p in seen if p["id"] in table)
    assert all("light" not in f["properties"] for f in layers["water-sections"]["features"])
    one = mapbox_vector_tile.decode(
        client.get("/collections/farmland/tiles/WebMercatorQuad/8/208/107?lights=1").content
    )
    assert all(f["properties"]["light"] in ("green", "yellow", "red") for f in one["farmland"]["features"])
    plain = mapbox_vector_tile.decode(client.get("/collections/farmland/tiles/WebMercatorQuad/8/208/107").content)
    assert plain["farmland"]["features"] and all("light" not in f["properties"] for f in plain["farmland"]["features"])


def test_tile_cache_keys_hold_the_day(client):
    first = client.get(f"/tiles/plan/8/208/107.mvt?as_of={AS_OF}&lights=true").headers["etag"]
    other = client.get("/tiles/plan/8/208/107.mvt?as_of=2025-03-31&lights=true").headers["etag"]
    today = client.get("/tiles/plan/8/208/107.mvt?lights=true").headers["etag"]
    assert len({first, other, today}) == 3


def test_progress_page_shows_lights_by_county(client):
    page = client.get(f"/map/progress?layer=reservoirs&as_of={AS_OF}")
    assert page.status_code == 200 and 'class="pm-table pm-lights"' in page.text
    body = client.get(f"/lights?as_of={AS_OF}&layer=reservoirs").json()
    xt = next(c for c in body["counties"] if c["scope"] == "430321")["counts"]
    row = page.text.split('data-scope="430321"')[1].split("</tr>")[0]
    assert f'pm-light-green">{xt["green"]}<' in row and f'pm-light-red">{xt["red"]}<' in row
    assert "pm-lights" not in client.get(f"/map/progress?layer=water-sections&as_of={AS_OF}").text
