"""Access-token rows of ``planmap_tokens`` and the store verbs that write them, one transaction each.

A user has at most one live token: ``add_token`` revokes the user's live one and inserts the new one in the
same transaction, and a partial unique index on live rows makes the database refuse a second. Revoking keeps
the row with its ``revoked_at`` time. Only SHA-256 hashes are stored, never the tokens.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

    import psycopg
    from psycopg.rows import TupleRow

_COLUMNS = "sha256, user_name, role, counties, created_at, revoked_at"


@dataclass(frozen=True)
class StoredToken:
    """One stored token: its SHA-256 (hex), owner, role, counties, creation and revocation times (ISO UTC)."""

    sha256: str
    user: str
    role: str
    counties: tuple[str, ...] = ()
    created_at: str = ""
    revoked_at: str | None = None

    def row(self) -> tuple[Any, ...]:
        """Return the values in table column order (counties comma-joined: they are 6-digit codes)."""
        return (self.sha256, self.user, self.role, ",".join(self.counties), self.created_at, self.revoked_at)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> StoredToken:
        """Build a token from a row in table column order."""
        sha256, user, role, counties, created_at, revoked_at = row
        return cls(sha256, user, role, tuple(c for c in counties.split(",") if c), created_at, revoked_at)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _where_live(include_revoked: bool) -> str:
    return "" if include_revoked else " WHERE revoked_at IS NULL"


class GeoPackageTokens:
    """Mixin for ``GeoPackageStore``: token verbs on its sqlite3 connections (``BEGIN IMMEDIATE`` writes)."""

    if TYPE_CHECKING:

        def _conn(self) -> sqlite3.Connection: ...
        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def add_token(self, token: StoredToken) -> None:
        """Store ``token`` as its user's live token, revoking the one the user had, in one transaction."""
        with self._write() as conn:
            conn.execute(
                "UPDATE planmap_tokens SET revoked_at = ? WHERE user_name = ? AND revoked_at IS NULL",
                (_now(), token.user),
            )
            conn.execute(f"INSERT INTO planmap_tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", token.row())

    def revoke_tokens(self, user: str) -> int:
        """Revoke ``user``'s live tokens; return how many there were."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE planmap_tokens SET revoked_at = ? WHERE user_name = ? AND revoked_at IS NULL", (_now(), user)
            )
            return cursor.rowcount

    def tokens(self, include_revoked: bool = False) -> list[StoredToken]:
        """Return the live tokens (all with ``include_revoked``), by user and creation time."""
        sql = f"SELECT {_COLUMNS} FROM planmap_tokens{_where_live(include_revoked)} ORDER BY user_name, created_at"
        return [StoredToken.from_row(r) for r in self._conn().execute(sql)]

    def token_by_hash(self, sha256: str) -> StoredToken | None:
        """Return the live token with this SHA-256, or None."""
        row = (
            self._conn()
            .execute(f"SELECT {_COLUMNS} FROM planmap_tokens WHERE sha256 = ? AND revoked_at IS NULL", (sha256,))
            .fetchone()
        )
        return None if row is None else StoredToken.from_row(row)


class PostGISTokens:
    """Mixin for ``PostGISStore``: token verbs in its schema; creates for one user wait for each other."""

    schema: str
    _s: str

    if TYPE_CHECKING:

        def _conn(self, transaction: bool = False) -> AbstractContextManager[psycopg.Connection[TupleRow]]: ...

    def add_token(self, token: StoredToken) -> None:
        """Store ``token`` as its user's live token, revoking the one the user had, in one transaction."""
        with self._conn(transaction=True) as conn:
            # Two creates for one user in READ COMMITTED would both find nothing to revoke: take turns.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"planmap:{self.schema}:token:{token.user}"])
            conn.execute(
                f"UPDATE {self._s}.planmap_tokens SET revoked_at = %s WHERE user_name = %s AND revoked_at IS NULL",
                [_now(), token.user],
            )
            conn.execute(
                f"INSERT INTO {self._s}.planmap_tokens ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)", token.row()
            )

    def revoke_tokens(self, user: str) -> int:
        """Revoke ``user``'s live tokens; return how many there were."""
        with self._conn(transaction=True) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"planmap:{self.schema}:token:{user}"])
            cursor = conn.execute(
                f"UPDATE {self._s}.planmap_tokens SET revoked_at = %s WHERE user_name = %s AND revoked_at IS NULL",
                [_now(), user],
            )
            return cursor.rowcount

    def tokens(self, include_revoked: bool = False) -> list[StoredToken]:
        """Return the live tokens (all with ``include_revoked``), by user and creation time."""
        where = _where_live(include_revoked)
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM {self._s}.planmap_tokens{where} ORDER BY user_name, created_at"
            ).fetchall()
        return [StoredToken.from_row(r) for r in rows]

    def token_by_hash(self, sha256: str) -> StoredToken | None:
        """Return the live token with this SHA-256, or None."""
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM {self._s}.planmap_tokens WHERE sha256 = %s AND revoked_at IS NULL",
                [sha256],
            ).fetchone()
        return None if row is None else StoredToken.from_row(row)
