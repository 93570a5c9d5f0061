"""The numpy lights equal the pandas formulation they replaced, on random projects and on the demo layers."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layers.lights import LIGHT_COLUMNS, LightRules, has_lights, project_lights
from tests.layers import lights_reference
from tests.layers.test_lights import light_rules

EARLY, LATE = date(2024, 1, 1), date(2026, 12, 31)
days = st.dates(min_value=EARLY, max_value=LATE)
# How a column of dates arrives: ISO text (the GeoPackage), date objects (PostgreSQL) or text with a time,
# each with missing values. (Within one column pandas parses every value with the format of the first, so a
# column mixing them is not compared: the numpy reading takes each value as it is.)
FORMATS = [date.isoformat, lambda d: d, lambda d: f"{d.isoformat()}T08:30:00"]


def day_values(form):
    return st.one_of(days.map(form), st.none(), st.just(float("nan")))


percents = st.one_of(st.floats(-10, 110, allow_nan=False), st.none(), st.just(float("nan")), st.just("35.5"))
STATUSES = ["planned", "in_progress", "completed", "accepted", "suspended", None]
rules = light_rules


@st.composite
def projects(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 12))
    form = {c: draw(st.sampled_from(FORMATS)) for c in ("planned_start", "start_date", "due_date", "completed_date")}
    rows = [
        {
            "id": f"p{i}",
            "name": f"项目{i}",
            "county": "430321",
            "owner": "县水利局",
            "status": draw(st.sampled_from(STATUSES)),
            "progress_pct": draw(percents),
            "planned_start": draw(day_values(form["planned_start"])),
            "start_date": draw(day_values(form["start_date"])),
            "due_date": draw(day_values(form["due_date"])),
            "completed_date": draw(day_values(form["completed_date"])),
        }
        for i in range(n)
    ]
    return pd.DataFrame(rows)


@st.composite
def histories(draw, n_projects: int) -> pd.DataFrame | None:
    if draw(st.booleans()):
        return None
    count = draw(st.integers(0, 25))
    reports = sorted(
        (
            (
                draw(days),
                f"p{draw(st.integers(0, n_projects + 2))}",  # some rows are of features not on the page
                draw(st.sampled_from(STATUSES[:-1])),
                draw(st.one_of(st.floats(-5, 105, allow_nan=False), st.none())),
            )
            for _ in range(count)
        ),
        key=lambda report: report[0],
    )
    rows = [
        {"seq": i, "layer": "reservoirs", "feature_id": f, "date": d.isoformat(), "status": s, "percent": p}
        for i, (d, f, s, p) in enumerate(reports, 1)
    ]
    return pd.DataFrame(rows, columns=["seq", "layer", "feature_id", "date", "status", "percent"])


def assert_same(frame, layer, history, as_of, year, rules, replayed) -> pd.DataFrame:
    got = project_lights(frame, layer, history, as_of, year, rules, replayed)
    expected = lights_reference.project_lights(frame, layer, history, as_of, year, rules, replayed)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=True)
    return got


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), frame=projects(), as_of=days, rules=rules, replayed=st.booleans())
def test_random_projects_match_the_pandas_formulation(registry, data, frame, as_of, rules, replayed):
    history = data.draw(histories(len(frame)))
    got = assert_same(frame, registry.get("reservoirs"), history, as_of, 2025, rules, replayed)
    assert set(got["light"].dropna()) <= {"green", "yellow", "red"}


@pytest.mark.parametrize("layer_id", ["reservoirs", "farmland", "old-communities"])
@pytest.mark.parametrize("offset", [0, 120, 300, 500])
def test_demo_layers_match_the_pandas_formulation(demo_store, registry, layer_id, offset):
    layer = registry.get(layer_id)
    assert has_lights(layer)
    columns = [c for c in LIGHT_COLUMNS if c in layer.field_names]
    features = demo_store.read(layer.id, columns=columns)
    frame = pd.DataFrame(features.drop(columns=features.geometry.name))
    as_of = date(2025, 1, 15) + timedelta(days=offset)
    history = demo_store.history(layer.id, until=as_of)
    assert len(frame) and len(history)
    for replayed in (True, False):
        got = assert_same(frame, layer, history, as_of, 2025, LightRules(), replayed)
        assert got["light"].notna().any()
