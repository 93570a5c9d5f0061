"""序时进度 lights of single projects: the worked examples, not started, overdue, done late, rounding."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from layers.errors import InvalidPlan
from layers.lights import LIGHTS, LightRules, elapsed_pct, project_lights, rules_of
from layers.plan_model import seed_plan

YEAR = 2025


@pytest.fixture(scope="module")
def reservoirs(registry):
    return registry.get("reservoirs")


def project(status="in_progress", pct=0.0, start="2025-01-01", due="2025-12-31", **more):
    return {
        "id": "p1",
        "name": "测试项目",
        "county": "430321",
        "owner": "县水利局",
        "status": status,
        "progress_pct": pct,
        "planned_start": start,
        "due_date": due,
        **more,
    }


def light_of(layer, row, as_of, history=None, rules=None):
    frame = pd.DataFrame([row])
    out = project_lights(frame, layer, history, as_of, YEAR, rules or LightRules(), replayed=history is not None)
    return out.iloc[0].to_dict()


def history(*reports):
    rows = [
        {"seq": i, "layer": "reservoirs", "feature_id": "p1", "date": d, "status": s, "percent": p, "data": None}
        for i, (d, s, p) in enumerate(reports, 1)
    ]
    return pd.DataFrame(rows)


def test_elapsed_counts_the_due_day():
    day = pd.Series([pd.Timestamp("2025-07-01")])
    got = elapsed_pct(pd.Series([pd.Timestamp("2025-01-01")]), pd.Series([pd.Timestamp("2025-12-31")]), day)
    assert round(float(got.iloc[0]), 1) == 49.6  # 181 / 365


@pytest.mark.parametrize(
    ("row", "as_of", "light", "reason", "lag"),
    [
        (project(pct=40.0), date(2025, 7, 1), "green", "not_due", 9.6),
        (project(pct=30.0), date(2025, 7, 1), "yellow", "lag", 19.6),
        (project(pct=15.0), date(2025, 7, 1), "red", "lag", 34.6),
        (project(pct=39.6), date(2025, 7, 1), "yellow", "lag", 10.0),  # 49.59 - 39.6 is 10.0 once rounded
        (project(pct=19.6), date(2025, 7, 1), "red", "lag", 30.0),
        # not started: a month after the planned start at least yellow, three months red
        (project("planned", 0.0, start="2025-03-01"), date(2025, 3, 30), "green", "not_due", 9.5),
        (project("planned", 0.0, start="2025-03-01"), date(2025, 3, 31), "yellow", "not_started", 9.8),
        (project("planned", 0.0, start="2025-03-01"), date(2025, 5, 30), "red", "not_started", 29.4),
        (project("in_progress", 0.0, start="2025-03-01"), date(2025, 3, 31), "yellow", "not_started", 9.8),
        # before the planned start nothing is expected yet
        (project("planned", 0.0, start="2025-09-01"), date(2025, 7, 1), "green", "not_due", 0.0),
        # past due and not done, however close
        (project(pct=99.0, due="2025-06-30"), date(2025, 7, 1), "red", "overdue", 1.0),
        (project(pct=99.0, due="2025-06-30"), date(2025, 6, 30), "green", "not_due", 0.4),
        # done in time
        (
            project("completed", 100.0, due="2025-06-30", completed_date="2025-06-20"),
            date(2025, 8, 1),
            "green",
            "on_time",
            0.0,
        ),
    ],
)
def test_lights_table(reservoirs, row, as_of, light, reason, lag):
    got = light_of(reservoirs, row, as_of)
    assert (got["light"], got["reason"], got["lag_pts"]) == (light, reason, lag)
    assert round(got["elapsed_pct"] - got["progress_pct"], 1) == got["lag_pts"]


def test_start_falls_back_to_the_actual_start_then_the_plan_year(reservoirs):
    actual = light_of(
        reservoirs, project(pct=0.0, start=None, start_date="2025-04-01", due="2025-04-30"), date(2025, 4, 16)
    )
    assert actual["elapsed_pct"] == 50.0
    neither = light_of(reservoirs, project(pct=49.6, start=None), date(2025, 7, 1))
    assert (neither["elapsed_pct"], neither["lag_pts"], neither["light"]) == (49.6, 0.0, "green")


@pytest.mark.parametrize(("at_due", "light"), [(95.0, "yellow"), (70.0, "yellow"), (50.0, "red")])
def test_done_late_keeps_the_light_of_its_due_date(reservoirs, at_due, light):
    row = project("completed", 100.0, start="2025-01-01", due="2025-06-30")
    rows = history(
        ("2025-01-10", "in_progress", 10.0), ("2025-06-01", "in_progress", at_due), ("2025-07-10", "completed", 100.0)
    )
    got = light_of(reservoirs, row, date(2025, 8, 1), rows)
    assert (got["light"], got["reason"], got["done_late"], got["measured_on"]) == (
        light,
        "done_late",
        True,
        "2025-06-30",
    )
    assert got["progress_pct"] == at_due and got["elapsed_pct"] == 99.4  # 180 / 181 days on the due date
    on_time = history(("2025-01-10", "in_progress", 10.0), ("2025-06-30", "completed", 100.0))
    assert light_of(reservoirs, row, date(2025, 8, 1), on_time)["light"] == "green"


def test_no_due_date_no_light(reservoirs):
    got = light_of(reservoirs, project(pct=10.0, due=None), date(2025, 7, 1))
    assert got["light"] is None and got["reason"] == "no_due_date"


def test_rules_are_validated_and_read_from_the_plan():
    with pytest.raises(ValidationError, match="above red_lag_pts"):
        LightRules(yellow_lag_pts=40)
    with pytest.raises(ValidationError):
        LightRules(not_started_red_days=-1)
    with pytest.raises(ValidationError, match="not_started_yellow_days"):
        LightRules(not_started_yellow_days=100)
    plan = seed_plan()
    assert rules_of(plan) == LightRules()
    assert rules_of(plan.model_copy(update={"lights": {"yellow_lag_pts": 5, "red_lag_pts": 20}})).red_lag_pts == 20
    with pytest.raises(InvalidPlan, match="red_lag_pts"):
        rules_of(plan.model_copy(update={"lights": {"yellow_lag_pts": 50}}))


def test_custom_rules_move_the_thresholds(reservoirs):
    strict = LightRules(yellow_lag_pts=5, red_lag_pts=15)
    assert light_of(reservoirs, project(pct=40.0), date(2025, 7, 1), rules=strict)["light"] == "yellow"
    assert light_of(reservoirs, project(pct=30.0), date(2025, 7, 1), rules=strict)["light"] == "red"


days = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31))
light_rules = st.builds(
    lambda y, dy, n, dn: LightRules(
        yellow_lag_pts=y, red_lag_pts=y + dy, not_started_yellow_days=n, not_started_red_days=n + dn
    ),
    st.floats(0, 50),
    st.floats(0, 50),
    st.integers(0, 120),
    st.integers(0, 120),
)
"""Valid light thresholds (yellow before red)."""
percents = st.floats(min_value=0, max_value=99.9, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    start=days,
    due=days,
    as_of=days,
    higher=percents,
    lower=percents,
    rules=light_rules,
)
def test_a_light_never_improves_when_progress_drops(reservoirs, start, due, as_of, higher, lower, rules):
    higher, lower = max(higher, lower), min(higher, lower)
    rows = [
        project(pct=higher, start=start.isoformat(), due=due.isoformat()),
        project(pct=lower, start=start.isoformat(), due=due.isoformat()),
    ]
    rows[1]["id"] = "p2"
    out = project_lights(pd.DataFrame(rows), reservoirs, None, as_of, YEAR, rules, replayed=False)
    before, after = (LIGHTS.index(x) for x in out["light"])
    assert after >= before


@pytest.mark.parametrize("layer_id", ["farmland", "reservoirs", "old-communities"])
def test_an_items_page_lights_its_features_from_the_page_read(demo_store, registry, monkeypatch, layer_id):
    from geo.storage.base import Filter
    from layers.items import read_page
    from layers.lights import FEATURE_PROPERTIES, LightsAt, feature_lights

    layer, at = registry.get(layer_id), LightsAt(2025, LightRules())
    reads = []
    real = demo_store.read

    def counted(layer_name, where=None, **kwargs):
        if where is not None and where.ids is not None:  # a read of the page's features by id
            reads.append(layer_name)
        return real(layer_name, where, **kwargs)

    monkeypatch.setattr(demo_store, "read", counted)
    page = read_page(demo_store, layer, Filter(), limit=40, lights=at)
    assert reads == []  # the page held every column the lights read
    monkeypatch.undo()
    again = feature_lights(demo_store, layer, page.frame["id"], at)  # read afresh
    assert 0 < len(page.frame) <= 40 and page.frame["light"].notna().any()
    pd.testing.assert_frame_equal(
        page.frame[list(FEATURE_PROPERTIES)].reset_index(drop=True), again.reset_index(drop=True), check_dtype=False
    )
