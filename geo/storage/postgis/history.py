"""The history, data versions and metadata of the PostGIS store: append-only reports and write counters."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import UnknownFeature
from geo.storage.base import check_settable, check_version
from geo.storage.postgis.database import Connection, Database, version_string
from geo.storage.sql import quote_ident
from geo.storage.sql.records import RecordSQL
from geo.storage.sql.replies import ReplySQL
from geo.storage.values import APPROVED_ON, HISTORY_COLUMNS, HistoryEntry, RecordPut, ReportKey

_HISTORY = ", ".join(quote_ident(c) for c in HISTORY_COLUMNS)
_ID = "id"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_pg(value: Any, kind: str) -> Any:
    """Encode a value for a column of planmap type ``kind``."""
    value = value.item() if isinstance(value, np.generic) else value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind == "bool":
        return bool(value)
    if kind == "date" and isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if kind in ("str", "datetime") else value


def history(db: Database, layer: str | None, feature_ids: Sequence[str] | None, until: date | None) -> pd.DataFrame:
    """Return history rows, oldest first (by date, then by the order they were recorded)."""
    parts: list[str] = ["TRUE"]
    params: list[Any] = []
    if layer is not None:
        parts.append("layer = %s")
        params.append(layer)
    if feature_ids is not None:
        parts.append("feature_id = ANY(%s)")
        params.append(list(feature_ids))
    if until is not None:
        parts.append('"date" <= %s')
        parts.append(f"coalesce(data->>'{APPROVED_ON}', '') <= %s")
        params.extend([until, until.isoformat()])
    sql = f'SELECT {_HISTORY} FROM {db.s}.planmap_history WHERE {" AND ".join(parts)} ORDER BY "date", seq'
    with db.read() as conn:
        frame = pd.DataFrame(conn.execute(sql, params).fetchall(), columns=list(HISTORY_COLUMNS))
    frame["is_demo"] = frame["is_demo"].astype(bool)
    return frame


def insert(db: Database, conn: Connection, entries: Sequence[HistoryEntry]) -> None:
    """COPY history entries into the table on ``conn`` (inside the caller's transaction)."""
    if not entries:
        return
    now, names = _now(), HISTORY_COLUMNS[1:]
    columns = ", ".join(quote_ident(n) for n in names)
    with conn.cursor().copy(f"COPY {db.s}.planmap_history ({columns}) FROM STDIN") as copy:
        for entry in entries:
            row = entry.to_row(now)
            row["is_demo"] = bool(row["is_demo"])
            copy.write_row([row[n] for n in names])


def append(db: Database, entries: Sequence[HistoryEntry]) -> None:
    """Append many entries in one transaction."""
    if not entries:
        return
    with db.conn(transaction=True) as conn:
        insert(db, conn, entries)
        for layer in sorted({e.layer for e in entries}):
            db.bump(conn, layer)


def record_progress(
    db: Database,
    replies: ReplySQL,
    records: RecordSQL,
    entry: HistoryEntry,
    set_values: Mapping[str, Any],
    expected_version: str | None,
    key: ReportKey | None = None,
    record: RecordPut | None = None,
) -> str:
    """Append one report (and its idempotency key), update the feature's state (row locked) and write
    ``record``, atomically.

    The key is looked up after the row lock: a retry that waited for the first attempt's transaction then
    finds its key and is refused as a duplicate, not as a stale version.
    """
    with db.conn(transaction=True) as conn:
        types = db.columns(conn, entry.layer)
        check_settable(entry.layer, set_values, types, _ID)
        table, id_col = db.t(entry.layer), quote_ident(_ID)
        locked = conn.execute(f"SELECT 1 FROM {table} WHERE {id_col} = %s FOR UPDATE", [entry.feature_id])
        if locked.fetchone() is None:
            raise UnknownFeature(f"no feature {entry.feature_id!r} in collection {entry.layer!r}")
        replies.refuse_used(conn, entry.layer, key)
        check_version(entry, feature_version_on(db, conn, entry.layer, entry.feature_id), expected_version)
        if set_values:
            assign = ", ".join(f"{quote_ident(c)} = %s" for c in set_values)
            values = [to_pg(v, types[c]) for c, v in set_values.items()]
            conn.execute(f"UPDATE {table} SET {assign} WHERE {id_col} = %s", [*values, entry.feature_id])
        insert(db, conn, [entry])
        if key is not None:
            newest = conn.execute(  # the feature's row is locked: its newest entry is the one just copied in
                f"SELECT max(seq) FROM {db.s}.planmap_history WHERE layer = %s AND feature_id = %s",
                [entry.layer, entry.feature_id],
            ).fetchone()
            replies.insert(conn, entry.layer, entry.feature_id, int(newest[0] if newest else 0), key)
        if record is not None:
            records.put(conn, record.kind, record.key, record.doc, record.expected_version, record.author)
        return db.bump(conn, entry.layer)


def version(db: Database, layer: str) -> str:
    """Return ``<dataset uid>.<write counter>`` for the layer."""
    with db.read() as conn:
        current = layer_version(db, conn, layer)
        if current.endswith(".0"):
            db.columns(conn, layer)
    return current


def layer_version(db: Database, conn: Connection, layer: str) -> str:
    """Return the layer's version read on ``conn`` (``<uid>.0`` for a layer never written)."""
    row = conn.execute(
        f"SELECT {db.uid_sql()}, (SELECT version FROM {db.s}.planmap_versions WHERE layer = %s)", [layer]
    ).fetchone()
    return version_string(row, "")


def feature_version(db: Database, layer: str, feature_id: str) -> str:
    """Return ``<dataset uid>.f<last history seq>`` for the feature."""
    with db.read() as conn:
        return feature_version_on(db, conn, layer, feature_id)


def feature_version_on(db: Database, conn: Connection, layer: str, feature_id: str) -> str:
    """Return the feature's version read on ``conn`` (inside the caller's transaction)."""
    row = conn.execute(
        f"SELECT {db.uid_sql()}, (SELECT max(seq) FROM {db.s}.planmap_history WHERE layer = %s AND feature_id = %s)",
        [layer, feature_id],
    ).fetchone()
    return version_string(row, "f")


def get_meta(db: Database, key: str) -> Any:
    """Return the JSON value stored under ``key``, or None."""
    with db.read() as conn:
        row = conn.execute(f"SELECT value FROM {db.s}.planmap_meta WHERE key = %s", [key]).fetchone()
    return None if row is None else json.loads(row[0])
