"""Views of the progress history: a feature's public history and the planners' audit across layers."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from geo.errors import UnknownFeature
from geo.storage.base import FeatureStore, tombstone_kind
from layers.errors import InvalidQueryParameter

_PRIVATE_PHOTO_KEYS = ("lon", "lat", "key")
"""Photo details kept from anonymous readers: where the phone stood and the file key."""


def _data(raw: Any, private: bool) -> dict[str, Any] | None:
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    data: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else dict(raw)
    photo = data.get("photo")
    if isinstance(photo, dict) and not private:
        data["photo"] = {k: v for k, v in photo.items() if k not in _PRIVATE_PHOTO_KEYS}
    position = (data.get("evidence") or {}).get("position")
    if isinstance(position, dict) and not private:  # where the reporter stood: only its distance is public
        data["evidence"] = {**data["evidence"], "position": {"distance_m": position.get("distance_m")}}
    return data


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def history_records(frame: pd.DataFrame, *, private: bool) -> list[dict[str, Any]]:
    """Return history rows as JSON-ready dicts.

    Anonymous readers (``private=False``) get no author and no photo position; token holders get both.
    """
    records = []
    for row in frame.itertuples(index=False):
        record: dict[str, Any] = {
            "seq": int(row.seq),
            "layer": row.layer,
            "feature_id": row.feature_id,
            "date": row.date,
            "status": row.status,
            "percent": _clean(row.percent),
            "note": row.note or "",
            "recorded_at": row.recorded_at,
            "is_demo": bool(row.is_demo),
            "data": _data(row.data, private),
        }
        if private:
            record["author"] = row.author or ""
        records.append(record)
    return records


def feature_history(store: FeatureStore, layer_id: str, feature_id: str) -> pd.DataFrame:
    """Return a feature's history, a deleted (archived) feature's too; ``UnknownFeature`` for one never held."""
    try:
        store.get(layer_id, feature_id)
    except UnknownFeature:
        if store.record(tombstone_kind(layer_id), feature_id) is None:
            raise
    return store.history(layer_id, [feature_id])


def entry(store: FeatureStore, layer_id: str, feature_id: str, seq: int) -> dict[str, Any] | None:
    """Return one history entry of a feature as a private record, or None when it has no such entry."""
    frame = feature_history(store, layer_id, feature_id)
    rows = frame[frame["seq"] == seq]
    return history_records(rows, private=True)[0] if len(rows) else None


@dataclass(frozen=True)
class AuditQuery:
    """Filters and paging of the audit view; every given filter must hold."""

    layer: str | None = None
    author: str | None = None
    feature_id: str | None = None
    start: date | None = None
    end: date | None = None
    demo: bool | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class AuditPage:
    """One page of audit records (newest recorded first) and how many match."""

    records: list[dict[str, Any]]
    matched: int


def audit(store: FeatureStore, query: AuditQuery) -> AuditPage:
    """Return the matching history entries across layers, newest recorded first.

    ``start``/``end`` bound the report date (inclusive).

    Raises
    ------
    InvalidQueryParameter
        When ``start`` is after ``end``.
    """
    if query.start and query.end and query.start > query.end:
        raise InvalidQueryParameter(f"from {query.start} is after to {query.end}")
    ids = [query.feature_id] if query.feature_id else None
    frame = store.history(query.layer, ids, until=query.end)
    keep = pd.Series(True, index=frame.index)
    if query.start is not None:
        keep &= frame["date"].astype(str) >= query.start.isoformat()
    if query.author:
        keep &= frame["author"].fillna("") == query.author
    if query.demo is not None:
        keep &= frame["is_demo"] == query.demo
    frame = frame[keep].sort_values("seq", ascending=False)
    page = frame.iloc[query.offset : query.offset + query.limit]
    return AuditPage(history_records(page, private=True), len(frame))
