"""Progress reports with the cumulative investment completed (万元)."""

from datetime import date

import pandas as pd
import pytest

from geo.storage.base import HISTORY_COLUMNS
from layers.errors import InvalidProgressUpdate
from layers.updates import ProgressReport, parse_report, plan_update

TODAY = date(2025, 7, 1)


def plan(layer, current, report):
    history = pd.DataFrame(columns=list(HISTORY_COLUMNS))
    return plan_update(layer, current, history, report, author="li", today=TODAY)


def current(**values):
    return {"id": "FL-001", "status": "in_progress", "progress_pct": 40.0, "investment_done_wan": 120.0, **values}


def test_parse_accepts_the_investment_as_number_or_form_text(registry):
    farmland = registry.get("farmland")
    got = parse_report(farmland, {"status": "in_progress", "percent": "50", "investment_done_wan": "150.5"})
    assert got == ProgressReport("in_progress", 50.0, investment_done_wan=150.5)
    assert parse_report(farmland, {"status": "in_progress", "percent": 50, "investment_done_wan": ""}) == (
        ProgressReport("in_progress", 50.0)
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [(-1, "cannot be negative"), ("abc", "must be a number"), ("inf", "finite"), (True, "must be a number")],
)
def test_parse_refuses_bad_investment(registry, value, message):
    with pytest.raises(InvalidProgressUpdate, match=message):
        parse_report(registry.get("farmland"), {"status": "in_progress", "percent": 50, "investment_done_wan": value})


def test_the_investment_goes_into_the_entry_and_the_feature(registry):
    done = plan(registry.get("farmland"), current(), ProgressReport("in_progress", 50.0, investment_done_wan=150.0))
    assert done.set_values["investment_done_wan"] == 150.0
    assert done.entry.data["investment_done_wan"] == 150.0
    without = plan(registry.get("farmland"), current(), ProgressReport("in_progress", 50.0))
    assert "investment_done_wan" not in without.set_values and "investment_done_wan" not in without.entry.data


def test_a_lower_investment_needs_a_note(registry):
    farmland = registry.get("farmland")
    with pytest.raises(InvalidProgressUpdate, match="going down from 120 to 100"):
        plan(farmland, current(), ProgressReport("in_progress", 50.0, investment_done_wan=100.0))
    fixed = plan(farmland, current(), ProgressReport("in_progress", 50.0, note="审计核减", investment_done_wan=100.0))
    assert fixed.set_values["investment_done_wan"] == 100.0
