"""Access tokens in PostgreSQL (``planmap_tokens``): one transaction per verb; creates for one user take turns.

A user has at most one live token: ``add_token`` revokes the user's live one and inserts the new one in the
same transaction, and a partial unique index on live rows makes the database refuse a second. Only SHA-256
hashes are stored, never the tokens.
"""

from __future__ import annotations

from datetime import UTC, datetime

from geo.storage.postgis.database import Connection, Database
from geo.storage.values import StoredToken

_COLUMNS = "sha256, user_name, role, counties, created_at, revoked_at"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _where_live(include_revoked: bool) -> str:
    return "" if include_revoked else " WHERE revoked_at IS NULL"


def _lock_user(db: Database, conn: Connection, user: str) -> None:
    """Two creates for one user in READ COMMITTED would both find nothing to revoke: take turns."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"planmap:{db.schema}:token:{user}"])


def add_token(db: Database, token: StoredToken) -> None:
    """Store ``token`` as its user's live token, revoking the one the user had, in one transaction."""
    with db.conn(transaction=True) as conn:
        _lock_user(db, conn, token.user)
        conn.execute(
            f"UPDATE {db.s}.planmap_tokens SET revoked_at = %s WHERE user_name = %s AND revoked_at IS NULL",
            [_now(), token.user],
        )
        conn.execute(f"INSERT INTO {db.s}.planmap_tokens ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)", token.row())


def revoke_tokens(db: Database, user: str) -> int:
    """Revoke ``user``'s live tokens; return how many there were."""
    with db.conn(transaction=True) as conn:
        _lock_user(db, conn, user)
        sql = f"UPDATE {db.s}.planmap_tokens SET revoked_at = %s WHERE user_name = %s AND revoked_at IS NULL"
        return conn.execute(sql, [_now(), user]).rowcount


def tokens(db: Database, include_revoked: bool = False) -> list[StoredToken]:
    """Return the live tokens (all with ``include_revoked``), by user and creation time."""
    sql = f"SELECT {_COLUMNS} FROM {db.s}.planmap_tokens{_where_live(include_revoked)} ORDER BY user_name, created_at"
    with db.conn() as conn:
        return [StoredToken.from_row(r) for r in conn.execute(sql).fetchall()]


def token_by_hash(db: Database, sha256: str) -> StoredToken | None:
    """Return the live token with this SHA-256, or None."""
    sql = f"SELECT {_COLUMNS} FROM {db.s}.planmap_tokens WHERE sha256 = %s AND revoked_at IS NULL"
    with db.conn() as conn:
        row = conn.execute(sql, [sha256]).fetchone()
    return None if row is None else StoredToken.from_row(row)
