"""Accounts, browser sessions, sign-in throttling and the access log, in SQL both stores run.

``AccountVerbs`` implements the ``FeatureStore`` account verbs once; a store mixes it in and lends
connections through ``_account_reading`` and ``_account_writing`` (one transaction per verb). Times of
sessions, failures and events are epoch seconds given by the caller, so tests can move the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from geo.errors import UnknownUser, UserExists
from geo.storage.sql.records import Connection
from geo.storage.values import AuthEvent, StoredSession, StoredUser

_USER_COLUMNS = "user_name, display_name, role, counties, phone, password_hash, created_at, disabled_at"
_SESSION_COLUMNS = "sha256, user_name, csrf_token, created_s, seen_s, address, revoked_s"
_EVENT_COLUMNS = "seq, at_s, event, user_name, address, detail"


def _user(row: Any) -> StoredUser:
    counties = tuple(c for c in (row[3] or "").split(",") if c)
    return StoredUser(row[0], row[1], row[2], counties, row[4], row[5], row[6], row[7])


def _user_row(user: StoredUser) -> tuple[Any, ...]:
    return (
        user.user,
        user.display_name,
        user.role,
        ",".join(user.counties),
        user.phone,
        user.password_hash,
        user.created_at,
        user.disabled_at,
    )


def _session(row: Any) -> StoredSession:
    return StoredSession(row[0], row[1], row[2], float(row[3]), float(row[4]), row[5], row[6])


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AccountSQL:
    """The account statements for one store: its table prefix (a schema or none) and its placeholder."""

    def __init__(self, prefix: str, placeholder: str) -> None:
        self.prefix = prefix
        self.p = placeholder

    def _t(self, name: str) -> str:
        return f"{self.prefix}planmap_{name}"

    def _ps(self, n: int) -> str:
        return ", ".join([self.p] * n)

    def user(self, conn: Connection, name: str) -> StoredUser | None:
        """Return the account, or None."""
        row = conn.execute(
            f"SELECT {_USER_COLUMNS} FROM {self._t('users')} WHERE user_name = {self.p}", (name,)
        ).fetchone()
        return None if row is None else _user(row)

    def users(self, conn: Connection) -> list[StoredUser]:
        """Return every account, by user name."""
        rows = conn.execute(f"SELECT {_USER_COLUMNS} FROM {self._t('users')} ORDER BY user_name").fetchall()
        return [_user(r) for r in rows]

    def add_user(self, conn: Connection, user: StoredUser) -> None:
        """Insert an account; ``UserExists`` when the name is taken."""
        sql = (
            f"INSERT INTO {self._t('users')} ({_USER_COLUMNS}) VALUES ({self._ps(8)}) "
            "ON CONFLICT (user_name) DO NOTHING"
        )
        if conn.execute(sql, _user_row(user)).rowcount != 1:
            raise UserExists(f"an account {user.user!r} exists already")

    def replace_user(self, conn: Connection, user: StoredUser) -> None:
        """Overwrite an account's details; ``UnknownUser`` when there is none."""
        sets = ", ".join(f"{c} = {self.p}" for c in _USER_COLUMNS.split(", ")[1:])
        sql = f"UPDATE {self._t('users')} SET {sets} WHERE user_name = {self.p}"
        values = _user_row(user)
        if conn.execute(sql, (*values[1:], user.user)).rowcount != 1:
            raise UnknownUser(f"no account {user.user!r}")

    def revoke_sessions(self, conn: Connection, name: str, at_s: float) -> int:
        """Revoke every live session of a user; return how many."""
        sql = f"UPDATE {self._t('sessions')} SET revoked_s = {self.p} WHERE user_name = {self.p} AND revoked_s IS NULL"
        return int(conn.execute(sql, (at_s, name)).rowcount)

    def revoke_tokens(self, conn: Connection, name: str) -> int:
        """Revoke a user's live access tokens; return how many."""
        sql = f"UPDATE {self._t('tokens')} SET revoked_at = {self.p} WHERE user_name = {self.p} AND revoked_at IS NULL"
        return int(conn.execute(sql, (_iso_now(), name)).rowcount)

    def add_session(self, conn: Connection, session: StoredSession) -> None:
        """Insert a session row."""
        sql = f"INSERT INTO {self._t('sessions')} ({_SESSION_COLUMNS}) VALUES ({self._ps(7)})"
        conn.execute(
            sql,
            (
                session.sha256,
                session.user,
                session.csrf_token,
                session.created_s,
                session.seen_s,
                session.address,
                session.revoked_s,
            ),
        )

    def session(self, conn: Connection, sha256: str) -> StoredSession | None:
        """Return the live session with this hash, or None."""
        sql = f"SELECT {_SESSION_COLUMNS} FROM {self._t('sessions')} WHERE sha256 = {self.p} AND revoked_s IS NULL"
        row = conn.execute(sql, (sha256,)).fetchone()
        return None if row is None else _session(row)

    def touch_session(self, conn: Connection, sha256: str, seen_s: float) -> None:
        """Record that a session was used (idle expiry counts from here)."""
        sql = f"UPDATE {self._t('sessions')} SET seen_s = {self.p} WHERE sha256 = {self.p} AND seen_s < {self.p}"
        conn.execute(sql, (seen_s, sha256, seen_s))

    def end_session(self, conn: Connection, sha256: str, at_s: float) -> None:
        """Revoke one session."""
        sql = f"UPDATE {self._t('sessions')} SET revoked_s = {self.p} WHERE sha256 = {self.p} AND revoked_s IS NULL"
        conn.execute(sql, (at_s, sha256))

    def note_failure(self, conn: Connection, key: str, at_s: float, forget_after_s: float) -> int:
        """Count one failure under ``key`` (starting again after ``forget_after_s`` quiet seconds); return the count."""
        sql = (
            f"INSERT INTO {self._t('login_failures')} AS f (key, failures, last_s) VALUES ({self.p}, 1, {self.p}) "
            f"ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN f.last_s < {self.p} THEN 1 ELSE f.failures + 1 END, "
            "last_s = excluded.last_s RETURNING failures"
        )
        return int(conn.execute(sql, (key, at_s, at_s - forget_after_s)).fetchone()[0])

    def failures(self, conn: Connection, keys: Sequence[str]) -> dict[str, tuple[int, float]]:
        """Return the failure count and time of the last failure of each key that has any."""
        if not keys:
            return {}
        sql = f"SELECT key, failures, last_s FROM {self._t('login_failures')} WHERE key IN ({self._ps(len(keys))})"
        return {r[0]: (int(r[1]), float(r[2])) for r in conn.execute(sql, tuple(keys)).fetchall()}

    def clear_failures(self, conn: Connection, keys: Sequence[str]) -> None:
        """Forget the failures of these keys (after a successful sign-in)."""
        if keys:
            sql = f"DELETE FROM {self._t('login_failures')} WHERE key IN ({self._ps(len(keys))})"
            conn.execute(sql, tuple(keys))

    def log(self, conn: Connection, event: AuthEvent) -> None:
        """Append one access-log line (its ``seq`` is given by the database)."""
        sql = f"INSERT INTO {self._t('auth_events')} (at_s, event, user_name, address, detail) VALUES ({self._ps(5)})"
        conn.execute(sql, (event.at_s, event.event, event.user, event.address, event.detail))

    def events(self, conn: Connection, limit: int, offset: int) -> list[AuthEvent]:
        """Return access-log lines, newest first."""
        sql = (
            f"SELECT {_EVENT_COLUMNS} FROM {self._t('auth_events')} ORDER BY seq DESC "
            f"LIMIT {int(limit)} OFFSET {int(offset)}"
        )
        return [AuthEvent(int(r[0]), float(r[1]), r[2], r[3], r[4], r[5]) for r in conn.execute(sql).fetchall()]


class AccountVerbs:
    """The ``FeatureStore`` account verbs over ``AccountSQL``; a store provides the SQL and the connections."""

    _accounts: AccountSQL

    def _account_reading(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _account_writing(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def add_user(self, user: StoredUser, event: AuthEvent | None = None) -> None:
        """Create an account (``UserExists`` when the name is taken) and log ``event``, in one transaction."""
        with self._account_writing() as conn:
            self._accounts.add_user(conn, user)
            if event is not None:
                self._accounts.log(conn, event)

    def user(self, name: str) -> StoredUser | None:
        """Return the account, or None."""
        with self._account_reading() as conn:
            return self._accounts.user(conn, name)

    def users(self) -> list[StoredUser]:
        """Return every account, by user name."""
        with self._account_reading() as conn:
            return self._accounts.users(conn)

    def update_user(self, user: StoredUser, *, end_access: bool = False, event: AuthEvent | None = None) -> None:
        """Overwrite an account; with ``end_access`` also revoke its sessions (and, if disabled, its tokens).

        One transaction: a disabled account has no session or token left the moment the change commits.
        """
        with self._account_writing() as conn:
            self._accounts.replace_user(conn, user)
            if end_access:
                self._accounts.revoke_sessions(conn, user.user, event.at_s if event else 0.0)
                if user.disabled_at is not None:
                    self._accounts.revoke_tokens(conn, user.user)
            if event is not None:
                self._accounts.log(conn, event)

    def add_session(self, session: StoredSession, clear: Sequence[str] = (), event: AuthEvent | None = None) -> None:
        """Store a new session, forget the failures under ``clear`` and log ``event``, in one transaction."""
        with self._account_writing() as conn:
            self._accounts.add_session(conn, session)
            self._accounts.clear_failures(conn, clear)
            if event is not None:
                self._accounts.log(conn, event)

    def session_by_hash(self, sha256: str) -> StoredSession | None:
        """Return the live (not revoked) session with this hash, or None."""
        with self._account_reading() as conn:
            return self._accounts.session(conn, sha256)

    def touch_session(self, sha256: str, seen_s: float) -> None:
        """Record that the session was used at ``seen_s``."""
        with self._account_writing() as conn:
            self._accounts.touch_session(conn, sha256, seen_s)

    def end_session(self, sha256: str, at_s: float) -> None:
        """Revoke one session (sign-out)."""
        with self._account_writing() as conn:
            self._accounts.end_session(conn, sha256, at_s)

    def revoke_sessions(self, user: str, at_s: float, event: AuthEvent | None = None) -> int:
        """Revoke every session of ``user`` (log out everywhere) and log ``event``; return how many."""
        with self._account_writing() as conn:
            count = self._accounts.revoke_sessions(conn, user, at_s)
            if event is not None:
                self._accounts.log(conn, event)
            return count

    def note_failures(
        self, keys: Sequence[str], at_s: float, forget_after_s: float, event: AuthEvent | None = None
    ) -> list[int]:
        """Count a failed sign-in under each key and log ``event``, in one transaction; return the counts."""
        with self._account_writing() as conn:
            counts = [self._accounts.note_failure(conn, k, at_s, forget_after_s) for k in keys]
            if event is not None:
                self._accounts.log(conn, event)
            return counts

    def failures(self, keys: Sequence[str]) -> dict[str, tuple[int, float]]:
        """Return ``(count, last failure time)`` of each key with recent failures."""
        with self._account_reading() as conn:
            return self._accounts.failures(conn, keys)

    def clear_failures(self, keys: Sequence[str]) -> None:
        """Forget the failures of these keys."""
        with self._account_writing() as conn:
            self._accounts.clear_failures(conn, keys)

    def log_auth_event(self, event: AuthEvent) -> None:
        """Append one line to the access log."""
        with self._account_writing() as conn:
            self._accounts.log(conn, event)

    def auth_events(self, limit: int = 100, offset: int = 0) -> list[AuthEvent]:
        """Return access-log lines, newest first."""
        with self._account_reading() as conn:
            return self._accounts.events(conn, limit, offset)
