"""Idempotency keys of progress reports (``planmap_idempotency``), in SQL both stores run.

A key is inserted in the transaction that appends its report's history entry, so a key exists exactly
when its report does. ``ON CONFLICT DO NOTHING`` makes a concurrent second insert of the same key wait for
the first transaction and then find the row: the store raises ``DuplicateRequest`` and rolls its report back.
The first answer is saved afterwards, once: whoever saves first (the request itself or a retry that found
the report without an answer) wins, and every later replay returns that same answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from geo.errors import DuplicateRequest, UnknownRecord
from geo.storage.sql.records import Connection
from geo.storage.values import ReportKey, StoredReply

_COLUMNS = "layer, key, feature_id, request_hash, seq, author, created_at, response"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _reply(row: Any) -> StoredReply:
    response = json.loads(row[7]) if isinstance(row[7], str) else row[7]
    return StoredReply(row[0], row[1], row[2], row[3], int(row[4]), row[5], row[6], response)


class ReplySQL:
    """The idempotency-key verbs for one store: its table prefix (a schema or none) and its placeholder."""

    def __init__(self, prefix: str, placeholder: str) -> None:
        self.table = f"{prefix}planmap_idempotency"
        self.p = placeholder

    def get(self, conn: Connection, layer: str, key: str) -> StoredReply | None:
        """Return the report recorded under ``key`` in ``layer``, or None."""
        sql = f"SELECT {_COLUMNS} FROM {self.table} WHERE layer = {self.p} AND key = {self.p}"
        row = conn.execute(sql, (layer, key)).fetchone()
        return None if row is None else _reply(row)

    def refuse_used(self, conn: Connection, layer: str, key: ReportKey | None) -> None:
        """Raise ``DuplicateRequest`` when ``key`` is recorded already (checked before the version)."""
        if key is not None and self.get(conn, layer, key.key) is not None:
            raise DuplicateRequest(f"a report with idempotency key {key.key!r} was recorded already")

    def insert(self, conn: Connection, layer: str, feature_id: str, seq: int, key: ReportKey) -> None:
        """Store the key of report ``seq`` inside the caller's transaction; raise ``DuplicateRequest`` if taken."""
        sql = (
            f"INSERT INTO {self.table} ({_COLUMNS}) VALUES ({', '.join([self.p] * 8)}) "
            "ON CONFLICT (layer, key) DO NOTHING"
        )
        row = (layer, key.key, feature_id, key.request_hash, seq, key.author, _now(), None)
        if conn.execute(sql, row).rowcount != 1:
            raise DuplicateRequest(f"a report with idempotency key {key.key!r} was recorded already")

    def save_response(self, conn: Connection, layer: str, key: str, response: Mapping[str, Any]) -> StoredReply:
        """Keep ``response`` as the key's answer unless one was kept already; return the stored reply."""
        sql = (
            f"UPDATE {self.table} SET response = {self.p} "
            f"WHERE layer = {self.p} AND key = {self.p} AND response IS NULL"
        )
        conn.execute(sql, (json.dumps(response, ensure_ascii=False), layer, key))
        stored = self.get(conn, layer, key)
        if stored is None:
            raise UnknownRecord(f"no report was recorded under idempotency key {key!r}")
        return stored
