"""Exactly-once progress reports: idempotency keys, request fingerprints, and what a stale report may do.

A phone makes a UUID for each report when the report is made and sends it as ``Idempotency-Key`` on every
attempt. The store keeps the key with the report (same transaction as the history entry), a fingerprint of
the request and the first answer. A retry with the same key and the same request gets that answer again;
the same key with another request is refused, since the phone would otherwise believe a report was
recorded that never was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from geo.storage.base import FeatureStore, StoredReply
from layers.errors import IdempotencyKeyReused, InvalidProgressUpdate
from layers.models import Layer
from layers.updates import ProgressReport, WaterReading, plan_update

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{7,127}$")


def check_key(value: str) -> str:
    """Return a well-formed idempotency key (a UUID, or 8-128 letters, digits and ``_.:-``).

    Raises
    ------
    InvalidProgressUpdate
        When the key is empty, too short or too long, or has other characters.

    Examples
    --------
    >>> check_key("0b6f3c1e-6a4e-4f7e-9a53-0d4c6f1b2a99")
    '0b6f3c1e-6a4e-4f7e-9a53-0d4c6f1b2a99'
    """
    key = value.strip()
    if not _KEY.match(key):
        raise InvalidProgressUpdate(
            "Idempotency-Key must be 8 to 128 letters, digits or _.:- (a UUID made when the report is made)"
        )
    return key


def fingerprint(
    feature_id: str,
    report: ProgressReport | WaterReading,
    photo: bytes | None,
    author: str,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Return the SHA-256 of a report request in canonical form: parsed fields, photo bytes' hash, author.

    Two requests with the same meaning (``"40"`` or ``40`` for the percent, fields in any order, JSON or
    form) have the same fingerprint; a changed field or another photo gives another.
    """
    fields = dataclasses.asdict(report)
    canonical = {
        "feature": feature_id,
        "kind": type(report).__name__,
        "fields": fields,
        "photo": hashlib.sha256(photo).hexdigest() if photo else None,
        "author": author,
        "extra": dict(extra or {}),
    }
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def find_reply(store: FeatureStore, layer_id: str, key: str, request_hash: str) -> StoredReply | None:
    """Return the report already recorded under ``key`` for this same request, or None for a new key.

    Raises
    ------
    IdempotencyKeyReused
        When the key was recorded with another request (other fields, photo, feature or author).
    """
    found = store.report_reply(layer_id, key)
    if found is not None and found.request_hash != request_hash:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was used for a different report (recorded as report {found.seq} "
            f"of {found.feature_id!r}); make a new key for a new report"
        )
    return found


def _plain(value: Any) -> Any:
    """Return a JSON-ready scalar (numpy scalars unwrapped, NaN as None)."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def _backwards(current: Mapping[str, Any], status: str, percent: float) -> bool:
    old_status, old_pct = current.get("status"), current.get("progress_pct")
    if old_status == "completed" and status != "completed":
        return True
    return old_pct is not None and percent < float(old_pct)


def resubmit_verdict(
    store: FeatureStore, layer: Layer, feature_id: str, report: ProgressReport | WaterReading, today: date
) -> dict[str, Any]:
    """Say whether a report that met a newer version of its feature can be sent again as it is.

    Returns the feature's current status, percent and latest report date, ``resubmitSafe`` (the report
    is still valid and does not take the feature backwards) and, when it is not safe, ``reason``.
    """
    frame = store.get(layer.id, feature_id)
    current = {k: _plain(v) for k, v in frame.drop(columns=frame.geometry.name).iloc[0].to_dict().items()}
    history = store.history(layer.id, [feature_id])
    latest = str(history["date"].astype(str).max()) if len(history) else None
    state = {"status": current.get("status"), "percent": current.get("progress_pct"), "latestReport": latest}
    try:
        plan = plan_update(layer, current, history, report, author="", today=today)
    except InvalidProgressUpdate as exc:
        return {"current": state, "resubmitSafe": False, "reason": str(exc)}
    if isinstance(report, ProgressReport) and _backwards(current, plan.entry.status, float(plan.entry.percent or 0)):
        reason = f"the feature is now {state['status']} {state['percent']} %: this report would take it backwards"
        return {"current": state, "resubmitSafe": False, "reason": reason}
    return {"current": state, "resubmitSafe": True}
