"""Alert destinations, exactly-once claims and the delivery log, all as store documents.

* ``alert-destination``/``<name>``: a webhook (plain, 企业微信, 钉钉) or e-mail addresses, the rules it
  takes and its secret (never shown again after saving).
* ``alert-delivery``/``<destination>|<event key>``: the claim and log line of one event for one
  destination. It is created once (``put_record(expected_version=None)``), so when several workers
  evaluate the same event, the one whose create succeeds sends and the others skip (``RecordExists``).
  A failed delivery is marked ``failed``; a later run takes it back with a versioned update, which again
  only one worker wins, so it is retried, never sent twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from geo.errors import RecordExists, StaleVersion, UnknownRecord
from geo.storage.base import FeatureStore, StoredRecord
from layers.alert_rules import RULES, AlertEvent, evaluate
from layers.alert_send import (
    KINDS,
    DeliveryFailed,
    Message,
    Retry,
    SmtpConfig,
    body_of,
    post_json,
    send_mail,
    with_retries,
)
from layers.errors import InvalidAlertSetting
from layers.models import Layer

DESTINATION = "alert-destination"
DELIVERY = "alert-delivery"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+$")


@dataclass(frozen=True)
class AlertConfig:
    """How alerts go out: SMTP settings, retries and the days a report may wait for review."""

    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    retry: Retry = field(default_factory=Retry)
    wait_days: int = 3
    timeout_s: float = 10.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_destination(body: Mapping[str, Any]) -> dict[str, Any]:
    """Check a destination: ``name``, ``kind`` (webhook|wecom|dingtalk|email), ``url`` or ``to``, ``rules``, ``secret``.

    Raises
    ------
    InvalidAlertSetting
        Naming the problem.
    """
    name, kind = str(body.get("name") or "").strip(), str(body.get("kind") or "").strip()
    if not _NAME.match(name):
        raise InvalidAlertSetting("name: 1-64 letters, digits, '.', '_' or '-'")
    if kind not in KINDS:
        raise InvalidAlertSetting(f"kind {kind!r} is not one of {list(KINDS)}")
    rules = body.get("rules") or list(RULES)
    rules = [r.strip() for r in rules.split(",")] if isinstance(rules, str) else list(rules)
    unknown = sorted(set(rules) - set(RULES))
    if unknown or not rules:
        raise InvalidAlertSetting(f"rules {unknown or rules} unknown; use some of {list(RULES)}")
    doc: dict[str, Any] = {"name": name, "kind": kind, "rules": [r for r in RULES if r in rules], "enabled": True}
    if kind == "email":
        to = [a.strip() for a in re.split(r"[,;\s]+", str(body.get("to") or "")) if a.strip()]
        if not to or not all(_EMAIL.match(a) for a in to):
            raise InvalidAlertSetting("to: one or more e-mail addresses, comma-separated")
        doc["to"] = to
    else:
        url = str(body.get("url") or "").strip()
        if not re.match(r"^https?://[^\s]+$", url) or len(url) > 1000:
            raise InvalidAlertSetting("url: an http:// or https:// address")
        doc["url"], doc["secret"] = url, str(body.get("secret") or "")
    return doc


def save_destination(store: FeatureStore, body: Mapping[str, Any], author: str) -> StoredRecord:
    """Create or replace a destination (a new secret replaces the old; an empty one keeps it)."""
    doc = parse_destination(body)
    old = store.record(DESTINATION, doc["name"])
    if old is None:
        return store.put_record(DESTINATION, doc["name"], doc, expected_version=None, author=author)
    if doc.get("secret") == "" and old.doc.get("secret"):
        doc["secret"] = old.doc["secret"]
    return store.put_record(DESTINATION, doc["name"], doc, expected_version=old.version, author=author)


def delete_destination(store: FeatureStore, name: str, author: str) -> None:
    """Delete a destination (its delivery log stays); ``UnknownRecord`` when there is none."""
    old = store.record(DESTINATION, name)
    if old is None:
        raise UnknownRecord(f"no alert destination {name!r}")
    store.delete_record(DESTINATION, name, expected_version=old.version, author=author)


def destinations(store: FeatureStore) -> list[dict[str, Any]]:
    """Return the destinations with their secrets hidden (``has_secret`` says whether one is set)."""
    out = []
    for record in store.records(DESTINATION):
        doc = {k: v for k, v in record.doc.items() if k != "secret"}
        out.append({**doc, "has_secret": bool(record.doc.get("secret")), "updated_by": record.updated_by})
    return out


def deliveries(store: FeatureStore, last: int = 200) -> list[dict[str, Any]]:
    """Return the delivery log, newest first."""
    rows = [{"id": r.key, **r.doc} for r in store.records(DELIVERY)]
    rows.sort(key=lambda r: str(r.get("updated_at", "")), reverse=True)
    return rows[:last]


def _send(destination: Mapping[str, Any], message: Message, config: AlertConfig) -> None:
    kind = destination["kind"]
    if kind == "email":
        send_mail(config.smtp, destination["to"], message)
        return
    body = body_of(kind, message, _now())
    post_json(destination["url"], body, destination.get("secret") or None, config.timeout_s)


def _attempt(
    store: FeatureStore, claim: StoredRecord, destination: Mapping[str, Any], message: Message, config: AlertConfig
) -> str:
    """Send a claimed message with retries and log the outcome on the claim; return ``sent`` or ``failed``."""
    doc = dict(claim.doc)
    try:
        tries = with_retries(lambda: _send(destination, message, config), config.retry)
        doc.update(status="sent", error="", attempts=int(doc.get("attempts", 0)) + tries)
    except DeliveryFailed as exc:
        doc.update(status="failed", error=str(exc), attempts=int(doc.get("attempts", 0)) + config.retry.attempts)
    doc["updated_at"] = _now()
    store.put_record(DELIVERY, claim.key, doc, expected_version=claim.version, author="planmap")
    return str(doc["status"])


def deliver(
    store: FeatureStore, message: Message, targets: Sequence[Mapping[str, Any]], config: AlertConfig
) -> dict[str, str]:
    """Send ``message`` once to each destination: claim ``<name>|<key>`` first, skip if another worker has it.

    Returns ``{destination: sent|failed|skipped}``.
    """
    outcome: dict[str, str] = {}
    for destination in targets:
        key = f"{destination['name']}|{message.key}"
        doc = {
            "destination": destination["name"],
            "event": message.key,
            "title": message.title,
            "text": message.text,
            "status": "sending",
            "attempts": 0,
            "updated_at": _now(),
        }
        try:
            claim = store.put_record(DELIVERY, key, doc, expected_version=None, author="planmap")
        except RecordExists:
            outcome[destination["name"]] = "skipped"
            continue
        outcome[destination["name"]] = _attempt(store, claim, destination, message, config)
    return outcome


def _retry_failed(store: FeatureStore, targets: Mapping[str, Mapping[str, Any]], config: AlertConfig) -> int:
    """Take back failed deliveries (a versioned update only one worker wins) and try them again."""
    retried = 0
    for record in store.records(DELIVERY):
        destination = targets.get(str(record.doc.get("destination")))
        if record.doc.get("status") != "failed" or destination is None:
            continue
        try:
            claim = store.put_record(
                DELIVERY,
                record.key,
                {**record.doc, "status": "sending"},
                expected_version=record.version,
                author="planmap",
            )
        except StaleVersion:
            continue
        message = Message(str(record.doc["event"]), str(record.doc.get("title", "")), str(record.doc.get("text", "")))
        _attempt(store, claim, destination, message, config)
        retried += 1
    return retried


def _message(event: AlertEvent) -> Message:
    return Message(event.key, event.title, event.text, event.data)


def run_alerts(
    store: FeatureStore,
    layers: list[Layer],
    config: AlertConfig,
    today: date | None = None,
    feature: tuple[str, str] | None = None,
) -> dict[str, int]:
    """Evaluate the rules and deliver each new event once per destination; retry failed deliveries.

    Returns counts: ``events`` found, ``sent``, ``failed``, ``skipped`` (already delivered or claimed),
    ``retried``. Without enabled destinations nothing is evaluated.
    """
    targets = {d.doc["name"]: d.doc for d in store.records(DESTINATION) if d.doc.get("enabled", True)}
    counts = {"events": 0, "sent": 0, "failed": 0, "skipped": 0, "retried": 0}
    if not targets:
        return counts
    if feature is None:  # earlier failures first, so this run's own failures wait for the next run
        counts["retried"] = _retry_failed(store, targets, config)
    events = evaluate(store, layers, today or date.today(), wait_days=config.wait_days, feature=feature)
    counts["events"] = len(events)
    for event in events:
        wanted = [d for d in targets.values() if event.rule in d.get("rules", RULES)]
        for outcome in deliver(store, _message(event), wanted, config).values():
            counts[outcome] += 1
    return counts


def deliver_files(
    store: FeatureStore,
    files: Sequence[Path],
    names: Sequence[str],
    config: AlertConfig,
    *,
    title: str,
    key: str,
) -> dict[str, str]:
    """Send files (e.g. the monthly report's PDF and XLSX) to the named destinations, once per ``key``.

    E-mail gets them attached; webhooks get their names, sizes and SHA-256 (plain webhooks) or a markdown
    line each (robots). ``key`` (e.g. ``report:monthly:2025-06``) makes a second call a no-op per destination.

    Raises
    ------
    InvalidAlertSetting
        When a name is not a configured destination.
    """
    records = {r.key: r.doc for r in store.records(DESTINATION)}
    unknown = sorted(set(names) - set(records))
    if unknown:
        raise InvalidAlertSetting(f"unknown alert destinations {unknown}; configured: {sorted(records)}")
    attached = [(Path(f).name, Path(f).read_bytes()) for f in files]
    text = "\n".join(f"{name}" for name, _ in attached)
    message = Message(key, title, text, {"files": [n for n, _ in attached]}, attached)
    return deliver(store, message, [records[n] for n in names], config)
