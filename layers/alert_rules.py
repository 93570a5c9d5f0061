"""Alert rules: which events hold on a day (overdue projects, red lights, reports waiting or rejected).

Each event has a key naming it once and for all (``overdue:farmland:FL-001:2025-07-01``), so a
destination receives it once however often the rules run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from geo.storage.base import FeatureStore
from layers.deadlines import layer_deadlines
from layers.lights import has_lights, rules_of
from layers.lights_report import layer_rows
from layers.models import Layer
from layers.plans import current_plan
from layers.review import PENDING, REJECTED, reviews, waiting_days

Rule = Literal["overdue", "red", "review_waiting", "rejected"]
RULES: tuple[Rule, ...] = ("overdue", "red", "review_waiting", "rejected")
REJECTED_RECENT_DAYS = 7
"""Rejections older than this are not announced (a destination added later is not flooded with old ones)."""


@dataclass(frozen=True)
class AlertEvent:
    """One event: its unique key, rule, a one-line Chinese title, a longer text and its facts."""

    key: str
    rule: Rule
    title: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


def _overdue(store: FeatureStore, layer: Layer, today: date, year: int | None) -> list[AlertEvent]:
    events = []
    for name, item in layer_deadlines(store, layer, today, 0, 100.0, year):
        if name != "overdue":
            continue
        what = f"{item.name or item.id}" + (f"({item.milestone})" if item.milestone else "")
        key = ":".join(["overdue", layer.id, item.id, *([item.milestone] if item.milestone else []), str(item.due)])
        text = f"{layer.title_zh} {what} 已逾期 {item.days} 天(应于 {item.due} 完成,当前进度 {item.progress_pct:g}%)"
        events.append(AlertEvent(key, "overdue", f"项目逾期:{what}", text, item.model_dump(mode="json")))
    return events


def _red(store: FeatureStore, layer: Layer, today: date) -> list[AlertEvent]:
    stored = current_plan(store)
    if stored is None or not has_lights(layer):
        return []
    plan = stored.plan
    rows = layer_rows(store, layer, plan.year, today, rules_of(plan), False)
    events = []
    for row in rows[rows["light"] == "red"].itertuples(index=False):
        name = getattr(row, "name", None) or row.id
        text = f"{layer.title_zh} {name} 序时进度红灯(原因 {row.reason},滞后 {row.lag_pts} 个百分点)"
        facts = {"layer": layer.id, "id": str(row.id), "name": str(name), "reason": str(row.reason)}
        events.append(AlertEvent(f"red:{layer.id}:{row.id}:{plan.year}", "red", f"红灯:{name}", text, facts))
    return events


def _reviews(store: FeatureStore, layers: list[Layer], today: date, wait_days: int) -> list[AlertEvent]:
    events = []
    for review in reviews(store, layers):
        facts = {"layer": review.layer, "id": review.feature_id, "name": review.doc.get("name"), "key": review.key}
        name = review.doc.get("name") or review.feature_id
        waited = waiting_days(review, today)
        if review.status == PENDING and waited > wait_days:
            text = f"{name} 的进度报告({review.doc.get('submitted_by')} 提交)已等待审核 {waited} 天"
            key = f"review-waiting:{review.layer}:{review.key}"
            events.append(AlertEvent(key, "review_waiting", f"待审核超过 {wait_days} 天:{name}", text, facts))
        decided = str(review.doc.get("reviewed_at", ""))[:10]
        if review.status == REJECTED and decided and (today - date.fromisoformat(decided)).days <= REJECTED_RECENT_DAYS:
            text = f"{name} 的进度报告已退回({review.doc.get('reviewed_by')}):{review.doc.get('comment', '')}"
            facts["comment"] = review.doc.get("comment", "")
            events.append(
                AlertEvent(f"rejected:{review.layer}:{review.key}", "rejected", f"报告退回:{name}", text, facts)
            )
    return events


def evaluate(
    store: FeatureStore,
    layers: list[Layer],
    today: date,
    *,
    wait_days: int = 3,
    feature: tuple[str, str] | None = None,
) -> list[AlertEvent]:
    """Return the events that hold on ``today`` across ``layers`` (project layers).

    With ``feature`` (layer id, feature id) only that project's overdue and light events are computed,
    with the review events, which is what a write needs to check cheaply.
    """
    stored = current_plan(store)
    year = stored.plan.year if stored else None
    events: list[AlertEvent] = []
    for layer in layers:
        if feature is not None and layer.id != feature[0]:
            continue
        found = _overdue(store, layer, today, year) + _red(store, layer, today)
        events += [e for e in found if feature is None or e.data.get("id") == feature[1]]
    return events + _reviews(store, layers, today, wait_days)
