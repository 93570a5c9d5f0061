"""Documents edited in planmap (``planmap_records``) and their append-only revisions, in SQL both stores run.

Each verb runs on a connection the store lends inside one write transaction, so a document and its
revision row are written together or not at all. Versions start at 1 and grow by one per change; a change
names the version it was made from and is refused (``StaleVersion``) when another change came first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from geo.errors import RecordExists, StaleVersion, UnknownRecord
from geo.storage.values import RecordRevision, StoredRecord

_COLUMNS = "kind, key, version, doc, updated_at, updated_by"
_REVISION_COLUMNS = "seq, kind, key, version, action, doc, author, recorded_at"


class Cursor(Protocol):
    """The part of a DB-API cursor the verbs use (sqlite3 and psycopg both have it)."""

    rowcount: int

    def fetchone(self) -> Any: ...  # noqa: D102

    def fetchall(self) -> list[Any]: ...  # noqa: D102


class Connection(Protocol):
    """A connection whose ``execute`` returns a cursor (sqlite3 and psycopg both do)."""

    def execute(self, sql: str, params: Any = ...) -> Any: ...  # noqa: D102


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _doc(value: Any) -> Any:
    """Return a stored document: SQLite returns the JSON text, psycopg the parsed ``json``."""
    return json.loads(value) if isinstance(value, str) else value


class RecordSQL:
    """The record verbs for one store: its table prefix (a schema or none) and its placeholder."""

    def __init__(self, prefix: str, placeholder: str) -> None:
        self.table = f"{prefix}planmap_records"
        self.log_table = f"{prefix}planmap_record_revisions"
        self.p = placeholder

    def _ps(self, n: int) -> str:
        return ", ".join([self.p] * n)

    def get(self, conn: Connection, kind: str, key: str) -> StoredRecord | None:
        """Return the live document, or None."""
        sql = f"SELECT {_COLUMNS} FROM {self.table} WHERE kind = {self.p} AND key = {self.p}"
        row = conn.execute(sql, (kind, key)).fetchone()
        return None if row is None else StoredRecord(row[0], row[1], int(row[2]), _doc(row[3]), row[4], row[5])

    def all(self, conn: Connection, kind: str) -> list[StoredRecord]:
        """Return the live documents of a kind, by key."""
        sql = f"SELECT {_COLUMNS} FROM {self.table} WHERE kind = {self.p} ORDER BY key"
        return [
            StoredRecord(r[0], r[1], int(r[2]), _doc(r[3]), r[4], r[5]) for r in conn.execute(sql, (kind,)).fetchall()
        ]

    def put(
        self, conn: Connection, kind: str, key: str, doc: Mapping[str, Any], expected: int | None, author: str
    ) -> StoredRecord:
        """Create (``expected`` None) or change (from version ``expected``) a document; log the revision."""
        text, now = json.dumps(doc, ensure_ascii=False, sort_keys=True), _now()
        if expected is None:
            sql = f"INSERT INTO {self.table} ({_COLUMNS}) VALUES ({self._ps(6)}) ON CONFLICT (kind, key) DO NOTHING"
            if conn.execute(sql, (kind, key, 1, text, now, author)).rowcount != 1:
                raise RecordExists(f"{kind} {key!r} exists already")
            version, action = 1, "create"
        else:
            version, action = self._bump(conn, kind, key, expected, text, now, author), "update"
        self._log(conn, kind, key, version, action, text, author, now)
        return StoredRecord(kind, key, version, json.loads(text), now, author)

    def _bump(self, conn: Connection, kind: str, key: str, expected: int, text: str, now: str, author: str) -> int:
        sql = (
            f"UPDATE {self.table} SET version = version + 1, doc = {self.p}, updated_at = {self.p}, "
            f"updated_by = {self.p} WHERE kind = {self.p} AND key = {self.p} AND version = {self.p}"
        )
        if conn.execute(sql, (text, now, author, kind, key, expected)).rowcount != 1:
            self._refuse(conn, kind, key, expected)
        return expected + 1

    def _refuse(self, conn: Connection, kind: str, key: str, expected: int) -> None:
        current = self.get(conn, kind, key)
        if current is None:
            raise UnknownRecord(f"no {kind} {key!r}")
        raise StaleVersion(f"{kind} {key!r} changed: version is {current.version}, not {expected}")

    def delete(self, conn: Connection, kind: str, key: str, expected: int, author: str) -> None:
        """Delete a document changed last at version ``expected``; its revisions stay."""
        sql = f"DELETE FROM {self.table} WHERE kind = {self.p} AND key = {self.p} AND version = {self.p}"
        if conn.execute(sql, (kind, key, expected)).rowcount != 1:
            self._refuse(conn, kind, key, expected)
        self._log(conn, kind, key, expected + 1, "delete", None, author, _now())

    def _log(
        self, conn: Connection, kind: str, key: str, version: int, action: str, text: str | None, author: str, now: str
    ) -> None:
        sql = (
            f"INSERT INTO {self.log_table} (kind, key, version, action, doc, author, recorded_at) "
            f"VALUES ({self._ps(7)})"
        )
        conn.execute(sql, (kind, key, version, action, text, author, now))

    def revisions(self, conn: Connection, kind: str | None, key: str | None) -> list[RecordRevision]:
        """Return revisions oldest first: of one document, of every document of ``kind``, or of all (None)."""
        conditions = [(f"kind = {self.p}", kind), (f"key = {self.p}", key)]
        held = [(sql, value) for sql, value in conditions if value is not None]
        where = f" WHERE {' AND '.join(sql for sql, _ in held)}" if held else ""
        sql = f"SELECT {_REVISION_COLUMNS} FROM {self.log_table}{where} ORDER BY seq"
        return [
            RecordRevision(int(r[0]), r[1], r[2], int(r[3]), r[4], None if r[5] is None else _doc(r[5]), r[6], r[7])
            for r in conn.execute(sql, tuple(value for _, value in held)).fetchall()
        ]
