"""Copying a whole store into another: every layer with its column types, the history, metadata, accounts, tokens.

Used to move a GeoPackage into PostGIS (``planmap db load``) and back (``planmap db dump``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from geo.storage.base import FeatureStore
from geo.storage.values import HISTORY_COLUMNS

_INTERNAL_META = ("dataset_uid", "columns:", "extent:")
"""Metadata each store keeps for itself: never copied (the copy gets its own uid and versions)."""


@dataclass(frozen=True)
class CopyReport:
    """What a copy wrote: features per layer, history rows, metadata keys and live access tokens."""

    features: dict[str, int]
    history_rows: int
    meta_keys: list[str]
    tokens: int = 0
    users: int = 0
    record_revisions: int = 0


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def history_records(rows: pd.DataFrame) -> Iterator[list[Any]]:
    """Yield history rows in ``seq`` order as plain values in ``HISTORY_COLUMNS`` order.

    ``data`` stays JSON text; ``is_demo`` becomes a bool; missing values become None.
    """
    data_at, demo_at = HISTORY_COLUMNS.index("data"), HISTORY_COLUMNS.index("is_demo")
    for record in rows.sort_values("seq").to_dict("records"):
        values: list[Any] = [None if _missing(record[c]) else record[c] for c in HISTORY_COLUMNS]
        values[0] = int(values[0])
        if values[data_at] is not None and not isinstance(values[data_at], str):
            values[data_at] = json.dumps(values[data_at], ensure_ascii=False)
        values[demo_at] = bool(values[demo_at])
        yield [v.item() if hasattr(v, "item") else v for v in values]


def _copy_users(source: FeatureStore, target: FeatureStore) -> list[Any]:
    """Copy the accounts (before their tokens; sessions and sign-in failures are not copied)."""
    users = source.users()
    for user in users:
        if target.user(user.user) is None:
            target.add_user(user)
        else:
            target.update_user(user)
    return users


def _copy_records(source: FeatureStore, target: FeatureStore) -> list[Any]:
    """Replay every document revision in order: the same versions, documents and authors."""
    revisions = source.record_revisions(None)
    for rev in revisions:
        if rev.action == "delete":
            target.delete_record(rev.kind, rev.key, expected_version=rev.version - 1, author=rev.author)
        else:
            expected = None if rev.action == "create" else rev.version - 1
            target.put_record(rev.kind, rev.key, rev.doc or {}, expected_version=expected, author=rev.author)
    return revisions


def copy_store(
    source: FeatureStore,
    target: FeatureStore,
    on_step: Callable[[str, int, int], None] | None = None,
) -> CopyReport:
    """Copy every layer, the whole history (same ``seq`` order, dates and authors), the metadata, live tokens
    and the documents (plans) with every revision.

    Parameters
    ----------
    source, target : open stores; ``target`` must hold no history (``reset`` it first to replace).
    on_step : ``on_step(label, done, total)`` after each layer, the history and the metadata.

    Returns
    -------
    CopyReport

    Raises
    ------
    ValueError
        When ``target`` already holds progress history.
    """
    if len(target.history()):
        raise ValueError("the target already holds progress history; reset it first (--replace)")
    layers = source.layers()
    total, counts = len(layers) + 2, {}
    for i, layer in enumerate(layers, start=1):
        frame = source.read(layer)
        target.write_layer(layer, frame, mode="replace", types=source.columns(layer))
        counts[layer] = len(frame)
        if on_step:
            on_step(layer, i, total)
    history = source.history()
    target.load_history(history)
    if on_step:
        on_step("history", total - 1, total)
    keys = [k for k in source.meta_keys() if not k.startswith(_INTERNAL_META)]
    for key in keys:
        target.set_meta(key, source.get_meta(key))
    users = _copy_users(source, target)
    tokens = source.tokens()
    for token in tokens:
        target.add_token(token)
    revisions = _copy_records(source, target)
    if on_step:
        on_step("metadata", total, total)
    return CopyReport(counts, len(history), keys, len(tokens), len(users), len(revisions))
