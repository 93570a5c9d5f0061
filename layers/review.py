"""Review before a report counts: field reports on a layer whose plan says ``review: required`` wait here.

A waiting report is the document ``pending-report:<layer>``/``<key>`` (``store.put_record``), outside the
append-only history: it changes no progress, tile, light, dashboard or report until a planner approves it.
Its ``status`` is ``pending``, then ``approved`` or ``rejected`` (a rejection needs a comment, which the
reporter sees on the phone page; a new report is a new document). The record's revisions keep who
reported, who decided and when.

Approval records the report as the reporter made it: the history entry keeps the report's ``date`` and
author, and its data gains ``approved_on`` (the day of approval) and ``review`` (who approved, when).
Replays ``as_of`` a day see the entry only when both its date and ``approved_on`` are on or before that
day, so a day before the approval never sees it. The entry, the feature's state and the document's
``approved`` status are written in one transaction that checks the feature is still at the version the
reporter saw; when it is not, the report stays pending and the planner is told why.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from geo.errors import DuplicateRequest, RecordExists, StaleVersion
from geo.storage.base import APPROVED_ON, FeatureStore, RecordPut, ReportKey, StoredRecord
from layers.errors import IdempotencyKeyReused, InvalidProgressUpdate, ReviewConflict, UnknownReview
from layers.models import Layer
from layers.plans import current_plan
from layers.updates import (
    MAX_NOTE,
    ProgressReport,
    RecordedReport,
    WaterReading,
    parse_report,
    plan_update,
)

KIND_PREFIX = "pending-report:"
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
Clock = Callable[[], float]


def review_kind(layer_id: str) -> str:
    """Return the record kind holding the layer's reviewed reports."""
    return f"{KIND_PREFIX}{layer_id}"


def review_required(store: FeatureStore, layer_id: str) -> bool:
    """Return whether the current plan makes reports on the layer wait for a planner (default: no)."""
    stored = current_plan(store)
    return stored is not None and stored.plan.review_required(layer_id)


def _stamp(clock: Clock) -> str:
    return datetime.fromtimestamp(clock(), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Review:
    """A reviewed report: its layer, key, document version and document."""

    layer: str
    key: str
    version: int
    doc: Mapping[str, Any]

    @property
    def status(self) -> str:
        """Return ``pending``, ``approved`` or ``rejected``."""
        return str(self.doc.get("status", PENDING))

    @property
    def feature_id(self) -> str:
        """Return the reported feature's id."""
        return str(self.doc["feature_id"])

    def as_json(self) -> dict[str, Any]:
        """Return the review as a JSON-ready dict (the document plus layer, key and version)."""
        return {"layer": self.layer, "key": self.key, "version": self.version, **self.doc}


def _review(record: StoredRecord) -> Review:
    return Review(record.kind.removeprefix(KIND_PREFIX), record.key, record.version, record.doc)


def _fields(report: ProgressReport | WaterReading, day: date) -> dict[str, Any]:
    """Return the report as the form fields that ``parse_report`` reads back at approval."""
    if isinstance(report, WaterReading):
        return {**report.values, "date": day.isoformat(), "note": report.note}
    fields: dict[str, Any] = {"status": report.status, "date": day.isoformat(), "note": report.note}
    if report.percent is not None:
        fields["percent"] = report.percent
    if report.investment_done_wan is not None:
        fields["investment_done_wan"] = report.investment_done_wan
    return fields


@dataclass(frozen=True)
class PendingReport:
    """A report to hold for review: the feature, the parsed report, the version seen and the photo details."""

    layer: Layer
    feature_id: str
    report: ProgressReport | WaterReading
    expected_version: str
    extra: Mapping[str, Any]


def keyed_review_id(key: str) -> str:
    """Return the document key holding the report sent with idempotency key ``key`` (32 hex digits)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def find_keyed_review(store: FeatureStore, layer_id: str, key: ReportKey) -> Review | None:
    """Return the review kept for a report sent with ``key`` already, or None.

    Raises
    ------
    IdempotencyKeyReused
        When the key was sent with another report.
    """
    record = store.record(review_kind(layer_id), keyed_review_id(key.key))
    if record is None:
        return None
    if record.doc.get("request_hash") != key.request_hash:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key.key!r} was used for a different report (held for review as {record.key}); "
            "make a new key for a new report"
        )
    return _review(record)


def submit_for_review(
    store: FeatureStore,
    pending: PendingReport,
    *,
    author: str,
    today: date,
    clock: Clock,
    key: ReportKey | None = None,
) -> Review:
    """Check a report as if it were recorded now, then keep it as ``pending`` without touching the feature.

    With ``key`` the document's key derives from the idempotency key, so a report sent twice is held once.

    Raises
    ------
    UnknownFeature, InvalidProgressUpdate
        As ``record_report`` would: the same rules apply when the report is made and when it is approved.
    DuplicateRequest
        When a report with the same ``key`` was kept meanwhile (a concurrent retry).
    """
    layer, fid = pending.layer, pending.feature_id
    frame = store.get(layer.id, fid)
    current = frame.drop(columns=frame.geometry.name).iloc[0].to_dict()
    history = store.history(layer.id, [fid])
    plan = plan_update(layer, current, history, pending.report, author=author, today=today, extra=pending.extra)
    doc = {
        "status": PENDING,
        "feature_id": fid,
        "name": None if current.get("name") is None else str(current.get("name")),
        "county": None if current.get("county") is None else str(current.get("county")),
        "fields": _fields(pending.report, plan.entry.date),
        "extra": dict(pending.extra),
        "from": dict(plan.entry.data or {}).get("from"),
        "base_version": pending.expected_version,
        "submitted_by": author,
        "submitted_at": _stamp(clock),
    }
    if key is not None:
        doc["request_hash"] = key.request_hash
    doc_key = keyed_review_id(key.key) if key else uuid.uuid4().hex
    try:
        return _review(store.put_record(review_kind(layer.id), doc_key, doc, expected_version=None, author=author))
    except RecordExists:
        raise DuplicateRequest(f"a report with Idempotency-Key {key.key if key else ''!r} is held already") from None


def get_review(store: FeatureStore, layer_id: str, key: str) -> Review:
    """Return one reviewed report; ``UnknownReview`` when there is none."""
    record = store.record(review_kind(layer_id), key)
    if record is None:
        raise UnknownReview(f"no report {key!r} under review in {layer_id!r}")
    return _review(record)


def reviews(store: FeatureStore, layers: list[Layer], status: str | None = None) -> list[Review]:
    """Return the reviewed reports of ``layers`` (of one ``status`` if given), oldest submission first."""
    found = [_review(r) for layer in layers for r in store.records(review_kind(layer.id))]
    found = [r for r in found if status is None or r.status == status]
    return sorted(found, key=lambda r: (str(r.doc.get("submitted_at", "")), r.layer, r.key))


def feature_reviews(store: FeatureStore, layer_id: str, feature_id: str) -> list[Review]:
    """Return a feature's reviewed reports, newest submission first."""
    found = [_review(r) for r in store.records(review_kind(layer_id)) if r.doc.get("feature_id") == feature_id]
    return sorted(found, key=lambda r: str(r.doc.get("submitted_at", "")), reverse=True)


def _check_open(review: Review, expected_version: int) -> None:
    if review.status != PENDING:
        raise ReviewConflict(f"report {review.key} was {review.status} already")
    if review.version != expected_version:
        raise ReviewConflict(f"report {review.key} changed: version is {review.version}, not {expected_version}")


@dataclass(frozen=True)
class Decision:
    """Who decides on a reviewed report, when, and the expected document version."""

    reviewer: str
    expected_version: int
    today: date
    clock: Clock


def _stale(feature_id: str, detail: str) -> ReviewConflict:
    return ReviewConflict(
        f"project {feature_id} changed since this report was made ({detail}); the report stays pending: "
        "reject it with a comment so the field team reports again"
    )


def approve(store: FeatureStore, layer: Layer, key: str, decision: Decision) -> RecordedReport:
    """Approve a pending report: its history entry, the feature's state and the ``approved`` status, atomically.

    Raises
    ------
    UnknownReview
        When there is no such report.
    ReviewConflict
        When it was decided already, or the project changed since the report was made (it stays pending).
    InvalidProgressUpdate
        When the report no longer fits the project's history (it stays pending).
    """
    review = get_review(store, layer.id, key)
    _check_open(review, decision.expected_version)
    doc = review.doc
    fid = review.feature_id
    seen = store.feature_version(layer.id, fid)
    if seen != doc["base_version"]:  # checked first so a newer report is named, not a rule it now breaks
        raise _stale(fid, f"version is {seen!r}, not {doc['base_version']!r}")
    frame = store.get(layer.id, fid)
    current = frame.drop(columns=frame.geometry.name).iloc[0].to_dict()
    history = store.history(layer.id, [fid])
    reviewed_at = _stamp(decision.clock)
    extra = {
        **dict(doc.get("extra") or {}),
        APPROVED_ON: decision.today.isoformat(),
        "review": {
            "key": key,
            "submitted_at": doc.get("submitted_at"),
            "approved_by": decision.reviewer,
            "approved_at": reviewed_at,
        },
    }
    report = parse_report(layer, doc["fields"])
    plan = plan_update(
        layer, current, history, report, author=str(doc["submitted_by"]), today=decision.today, extra=extra
    )
    held = store.columns(layer.id)
    values = {k: v for k, v in plan.set_values.items() if k in held}
    decided = {**doc, "status": APPROVED, "reviewed_by": decision.reviewer, "reviewed_at": reviewed_at}
    put = RecordPut(review_kind(layer.id), key, decided, decision.expected_version, decision.reviewer)
    try:
        store.record_progress(plan.entry, values, expected_version=str(doc["base_version"]), record=put)
    except StaleVersion as exc:
        raise _stale(fid, str(exc)) from exc
    last = int(history["seq"].max()) if len(history) else 0
    after = store.history(layer.id, [fid])["seq"]
    return RecordedReport(plan.entry, int(after[after > last].min()))


def reject(store: FeatureStore, layer: Layer, key: str, decision: Decision, comment: str) -> Review:
    """Reject a pending report with a comment the reporter sees; nothing else changes.

    Raises
    ------
    UnknownReview, ReviewConflict
        As ``approve``.
    InvalidProgressUpdate
        When the comment is empty or too long.
    """
    comment = (comment or "").strip()
    if not comment:
        raise InvalidProgressUpdate("a rejection needs a comment telling the field team what to change")
    if len(comment) > MAX_NOTE:
        raise InvalidProgressUpdate(f"the comment is {len(comment)} characters long; at most {MAX_NOTE}")
    review = get_review(store, layer.id, key)
    _check_open(review, decision.expected_version)
    doc = {
        **review.doc,
        "status": REJECTED,
        "comment": comment,
        "reviewed_by": decision.reviewer,
        "reviewed_at": _stamp(decision.clock),
    }
    record = store.put_record(
        review_kind(layer.id), key, doc, expected_version=decision.expected_version, author=decision.reviewer
    )
    return _review(record)


def review_changes(store: FeatureStore, layers: list[Layer], last: int = 50) -> list[dict[str, Any]]:
    """Return the latest review steps across layers, newest first: submitted, approved or rejected, by whom."""
    rows = []
    for layer in layers:
        for rev in store.record_revisions(review_kind(layer.id)):
            doc = rev.doc or {}
            rows.append(
                {
                    "recorded_at": rev.recorded_at,
                    "layer": layer.id,
                    "feature_id": doc.get("feature_id"),
                    "key": rev.key,
                    "step": "submitted" if rev.action == "create" else str(doc.get("status", rev.action)),
                    "author": rev.author,
                    "comment": doc.get("comment", "") if rev.action != "create" else "",
                }
            )
    rows.sort(key=lambda r: str(r["recorded_at"]), reverse=True)
    return rows[:last]


def waiting_days(review: Review, today: date) -> int:
    """Return how many whole days a pending report has waited since it was submitted."""
    submitted = str(review.doc.get("submitted_at", ""))[:10]
    try:
        return (today - date.fromisoformat(submitted)).days
    except ValueError:
        return 0


__all__ = [
    "APPROVED",
    "PENDING",
    "REJECTED",
    "Decision",
    "PendingReport",
    "Review",
    "approve",
    "feature_reviews",
    "get_review",
    "reject",
    "review_changes",
    "review_kind",
    "review_required",
    "reviews",
    "submit_for_review",
    "waiting_days",
]
