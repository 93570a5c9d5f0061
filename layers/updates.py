"""Field progress reports: validate a report against the layer and the feature, then record it atomically.

Rules for project layers (planned / in_progress / completed):

* ``status`` is one of the layer's statuses (value, or its Chinese or English label);
* ``percent`` is 0..100; ``completed`` means 100 (the default), ``planned`` means 0, ``in_progress``
  needs a percent;
* going backwards (reopening a completed project, or a lower percent than the current one) is allowed
  only with a ``note`` saying why: corrections happen, but silently undoing progress must not;
* ``investment_done_wan`` (optional) is the cumulative investment completed, in 万元, >= 0; it is kept in
  the history entry's data and set on the feature, and a lower figure than the current one needs a note too;
* ``date`` (default today) lies between 2024-01-01 and today and not before the feature's latest report,
  so the current state is always the state of the latest report and replaying the history agrees.

Water-quality sections take monthly readings {DO, CODMn, NH3N, TP} (mg/L) instead; the reading's GB
3838-2002 class decides ``compliant`` / ``non_compliant`` against the section's target class.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from geo.storage.base import FeatureStore, HistoryEntry, ReportKey
from layers.errors import InvalidProgressUpdate
from layers.models import Layer
from layers.progress_model import INVESTMENT_DONE
from layers.text import fields_problem
from layers.water import PARAMETERS, is_compliant
from layers.water_status import monthly_classes, reading_class, water_body_of

EARLIEST_REPORT = date(2024, 1, 1)
WATER_LAYER = "water-sections"
MAX_NOTE = 2000
_DEFAULT_TARGET_CLASS = "III"


@dataclass(frozen=True)
class ProgressReport:
    """A project's progress report as submitted (not yet checked against the feature)."""

    status: str
    percent: float | None = None
    date: date | None = None
    note: str = ""
    investment_done_wan: float | None = None


@dataclass(frozen=True)
class WaterReading:
    """A water-quality section's monthly reading (mg/L per parameter)."""

    values: Mapping[str, float]
    date: date | None = None
    note: str = ""


@dataclass(frozen=True)
class RecordedReport:
    """A recorded report: its history entry and the sequence number the store gave it."""

    entry: HistoryEntry
    seq: int


@dataclass(frozen=True)
class PlannedUpdate:
    """What recording a report does: the history entry appended and the attributes set."""

    entry: HistoryEntry
    set_values: dict[str, Any] = field(default_factory=dict)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidProgressUpdate(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidProgressUpdate(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise InvalidProgressUpdate(f"{name} must be a finite number, got {value!r}")
    return number


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidProgressUpdate(f"date must be YYYY-MM-DD, got {value!r}") from None


def _note(value: Any) -> str:
    note = "" if value is None else str(value).strip()
    if len(note) > MAX_NOTE:
        raise InvalidProgressUpdate(f"note is {len(note)} characters long; at most {MAX_NOTE} are accepted")
    return note


def _status(layer: Layer, value: Any) -> str:
    for spec in layer.statuses:
        if value in (spec.value, spec.label_zh, spec.label_en):
            return spec.value
    allowed = ", ".join(s.value for s in layer.statuses)
    raise InvalidProgressUpdate(f"status {value!r} is not a status of {layer.id!r}; use one of {allowed}")


def parse_report(layer: Layer, body: Mapping[str, Any]) -> ProgressReport | WaterReading:
    """Parse a submitted report (JSON object or form fields) for ``layer``.

    Raises
    ------
    InvalidProgressUpdate
        For a layer that takes no reports, unknown or malformed fields, or missing values.

    Examples
    --------
    >>> from layers.registry import load_catalogue
    >>> parse_report(load_catalogue().get("reservoirs"), {"status": "在建", "percent": "40"})
    ProgressReport(status='in_progress', percent=40.0, date=None, note='', investment_done_wan=None)
    """
    if layer.kind != "project" or not layer.statuses:
        raise InvalidProgressUpdate(f"{layer.id!r} is a context layer; it takes no progress reports")
    problem = fields_problem(body)
    if problem is not None:
        raise InvalidProgressUpdate(problem)
    if layer.id == WATER_LAYER:
        known = {*PARAMETERS, "date", "note"}
        unknown = sorted(set(body) - known)
        missing = [p for p in PARAMETERS if body.get(p) in (None, "")]
        if unknown or missing:
            raise InvalidProgressUpdate(
                f"a water-section reading has {', '.join(PARAMETERS)} (mg/L), date and note; "
                + (f"unknown fields {unknown}" if unknown else f"missing {missing}")
            )
        values = {p: _number(p, body[p]) for p in PARAMETERS}
        negative = [p for p, v in values.items() if v < 0]
        if negative:
            raise InvalidProgressUpdate(f"concentrations cannot be negative: {negative}")
        return WaterReading(values, _date(body.get("date")), _note(body.get("note")))
    unknown = sorted(set(body) - {"status", "percent", "date", "note", INVESTMENT_DONE})
    if unknown:
        raise InvalidProgressUpdate(
            f"unknown fields {unknown}; a report has status, percent, date, note and {INVESTMENT_DONE}"
        )
    if body.get("status") in (None, ""):
        raise InvalidProgressUpdate("status is required")
    percent = None if body.get("percent") in (None, "") else _number("percent", body["percent"])
    money = _investment(layer, body.get(INVESTMENT_DONE))
    status = _status(layer, body["status"])
    return ProgressReport(status, percent, _date(body.get("date")), _note(body.get("note")), money)


def _investment(layer: Layer, value: Any) -> float | None:
    if value in (None, ""):
        return None
    if INVESTMENT_DONE not in layer.field_names:
        raise InvalidProgressUpdate(f"{layer.id!r} records no investment; leave out {INVESTMENT_DONE}")
    number = _number(INVESTMENT_DONE, value)
    if number < 0:
        raise InvalidProgressUpdate(f"{INVESTMENT_DONE} is the cumulative investment (万元) and cannot be negative")
    return number


def check_date(day: date | None, today: date, latest: date | None) -> date:
    """Return the report's day (default ``today``) after checking it is plausible and in order.

    Raises
    ------
    InvalidProgressUpdate
        When the day is after today, before 2024-01-01 or before the feature's latest report.
    """
    day = day or today
    if day > today:
        raise InvalidProgressUpdate(f"date {day} is in the future (today is {today})")
    if day < EARLIEST_REPORT:
        raise InvalidProgressUpdate(f"date {day} is before {EARLIEST_REPORT}, the start of the plan's records")
    if latest is not None and day < latest:
        raise InvalidProgressUpdate(f"date {day} is before the feature's latest report ({latest}); report newer news")
    return day


def _current(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _percent(report: ProgressReport) -> float:
    pct = report.percent
    if pct is not None and not 0 <= pct <= 100:
        raise InvalidProgressUpdate(f"percent must be between 0 and 100, got {pct}")
    fixed = {"completed": 100.0, "planned": 0.0}.get(report.status)
    if fixed is not None and pct is not None and pct != fixed:
        raise InvalidProgressUpdate(f"a {report.status} project is at {fixed:g} %, not {pct:g} %")
    if fixed is None and pct is None:
        raise InvalidProgressUpdate(f"percent is required with status {report.status!r}")
    return fixed if fixed is not None else float(pct or 0.0)


def _project_values(report: ProgressReport, current: Mapping[str, Any], day: date) -> tuple[float, dict[str, Any]]:
    old_status, old_pct = _current(current.get("status")), _current(current.get("progress_pct"))
    pct = _percent(report)
    backwards = (old_status == "completed" and report.status != "completed") or (
        old_pct is not None and pct < float(old_pct)
    )
    if backwards and not report.note:
        raise InvalidProgressUpdate(
            f"going back from {old_status} {old_pct} % to {report.status} {pct:g} % needs a note saying why"
        )
    values: dict[str, Any] = {"status": report.status, "progress_pct": pct, "updated_at": day}
    values.update(_investment_values(report, current))
    if report.status == "completed" and old_status != "completed":
        values["completed_date"] = day
    elif report.status != "completed" and old_status == "completed":
        values["completed_date"] = None
    if report.status in ("in_progress", "completed") and _current(current.get("start_date")) is None:
        values["start_date"] = day
    return pct, values


def _investment_values(report: ProgressReport, current: Mapping[str, Any]) -> dict[str, Any]:
    """Return the investment attribute a report sets (none without a figure); a lower one needs a note."""
    money, old = report.investment_done_wan, _current(current.get(INVESTMENT_DONE))
    if money is None:
        return {}
    if old is not None and money < float(old) and not report.note:
        raise InvalidProgressUpdate(
            f"the cumulative investment going down from {float(old):g} to {money:g} 万元 needs a note saying why"
        )
    return {INVESTMENT_DONE: money}


def _water_values(
    reading: WaterReading, current: Mapping[str, Any], history: pd.DataFrame, day: date
) -> tuple[str, float, str, dict[str, Any]]:
    body = water_body_of(_current(current.get("name")), _current(current.get("river")))
    found = reading_class(dict(reading.values), body) or ""
    target = _current(current.get("target_class")) or _DEFAULT_TARGET_CLASS
    year = history[history["date"].astype(str).str[:4] == str(day.year)]
    classes = monthly_classes(year, body)
    classes.loc[day.strftime("%Y-%m")] = found
    met = sum(is_compliant(c, target) for c in classes)
    status = "compliant" if is_compliant(found, target) else "non_compliant"
    pct = round(100.0 * met / len(classes), 1)
    values: dict[str, Any] = {
        "status": status,
        "progress_pct": pct,
        "latest_class": found,
        "latest_month": day.strftime("%Y-%m"),
        "months_noncompliant": len(classes) - met,
        "updated_at": day,
    }
    return status, pct, found, values


def plan_update(
    layer: Layer,
    current: Mapping[str, Any],
    history: pd.DataFrame,
    report: ProgressReport | WaterReading,
    *,
    author: str,
    today: date,
    extra: Mapping[str, Any] | None = None,
) -> PlannedUpdate:
    """Check a report against the feature's current attributes and history; return what to record.

    The entry's ``data`` keeps where the feature came from and went to (status and percent), the
    reading for water sections, and ``extra`` (e.g. photo details).

    Raises
    ------
    InvalidProgressUpdate
        When the report breaks one of the rules in this module's docstring.
    """
    latest = max(history["date"].astype(str), default=None) if len(history) else None
    day = check_date(report.date, today, date.fromisoformat(latest) if latest else None)
    before = {"status": _current(current.get("status")), "percent": _current(current.get("progress_pct"))}
    data: dict[str, Any] = {}
    if isinstance(report, WaterReading):
        status, pct, found, values = _water_values(report, current, history, day)
        data.update(report.values, **{"class": found})
    else:
        status, (pct, values) = report.status, _project_values(report, current, day)
        if report.investment_done_wan is not None:
            data[INVESTMENT_DONE] = report.investment_done_wan
    data.update({"from": before, "to": {"status": status, "percent": pct}}, **(extra or {}))
    entry = HistoryEntry(
        layer=layer.id,
        feature_id=str(current["id"]),
        date=day,
        status=status,
        percent=pct,
        note=report.note,
        author=author,
        data=data,
    )
    return PlannedUpdate(entry, values)


def record_report(
    store: FeatureStore,
    layer: Layer,
    feature_id: str,
    report: ProgressReport | WaterReading,
    *,
    author: str,
    expected_version: str,
    today: date,
    extra: Mapping[str, Any] | None = None,
    key: ReportKey | None = None,
) -> RecordedReport:
    """Validate a report and record it: history entry and current state in one store transaction.

    ``expected_version`` is the feature version the reporter saw; it must be read before the feature,
    so that any write in between makes the store raise ``StaleVersion`` instead of losing it. ``key`` (the
    report's idempotency key) is stored in the same transaction.

    Raises
    ------
    UnknownFeature, StaleVersion, InvalidProgressUpdate, DuplicateRequest
    """
    frame = store.get(layer.id, feature_id)
    current = frame.drop(columns=frame.geometry.name).iloc[0].to_dict()
    history = store.history(layer.id, [feature_id])
    plan = plan_update(layer, current, history, report, author=author, today=today, extra=extra)
    held = store.columns(layer.id)
    values = {k: v for k, v in plan.set_values.items() if k in held}
    store.record_progress(plan.entry, values, expected_version=expected_version, key=key)
    # The store checked that no entry was added since ``history`` was read, so ours is the first after it.
    seen = int(history["seq"].max()) if len(history) else 0
    after = store.history(layer.id, [feature_id])["seq"]
    return RecordedReport(plan.entry, int(after[after > seen].min()))
