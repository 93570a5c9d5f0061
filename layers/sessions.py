"""Browser sessions and sign-in throttling.

A session id is 32 random bytes sent only in an HttpOnly cookie; the store keeps its SHA-256 and a CSRF
token (synchronizer pattern), so a stolen database copy holds no usable session. A session ends after
``idle_s`` without use or ``absolute_s`` after sign-in, whichever comes first, when its user signs out
everywhere, changes password or is disabled.

Failed sign-ins (password or token) are counted per account (``user:NAME``) and per client address
(``addr:IP``) in the store, so every worker sees the same counts. After ``free_attempts`` failures a key
is locked for ``base_delay_s * 2**(n - free_attempts)`` seconds (at most ``max_lock_s``) from its last
failure; a locked key is answered 429 with ``Retry-After`` without checking the password, so guessing
runs at one try per lock. Counts start again after ``forget_after_s`` quiet seconds or a successful
sign-in. Every failure and lock is written to the access log.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from typing import cast

from geo.storage.base import AuthEvent, FeatureStore, StoredSession, StoredUser
from layers.accounts import Clock, password_matches
from layers.errors import NotAuthenticated, TooManyAttempts
from layers.tokens import Principal, Role

TOUCH_EVERY_S = 60.0
"""A session's last use is written at most this often (reads would otherwise each be a write)."""


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions last: ``idle_s`` without use, ``absolute_s`` after sign-in at most."""

    idle_s: float = 30 * 60
    absolute_s: float = 12 * 3600


@dataclass(frozen=True)
class ThrottlePolicy:
    """Sign-in throttling: failures allowed free, then an exponential lock per account and per address."""

    free_attempts: int = 5
    base_delay_s: float = 2.0
    max_lock_s: float = 15 * 60
    forget_after_s: float = 24 * 3600

    def lock_s(self, failures: int) -> float:
        """Return how long a key with ``failures`` recent failures stays locked after the last one.

        Examples
        --------
        >>> [ThrottlePolicy().lock_s(n) for n in (4, 5, 6, 7)]
        [0.0, 2.0, 4.0, 8.0]
        """
        if failures < self.free_attempts:
            return 0.0
        return min(self.base_delay_s * 2 ** (failures - self.free_attempts), self.max_lock_s)


@dataclass(frozen=True)
class Session:
    """A live session as a request sees it: its principal, CSRF token and the hash that names it."""

    principal: Principal
    display_name: str
    csrf_token: str
    sha256: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def throttle_keys(user: str | None, address: str) -> list[str]:
    """Return the keys failures are counted under: the account (when named) and the client address."""
    return ([f"user:{user.lower()}"] if user else []) + [f"addr:{address}"]


def check_throttle(store: FeatureStore, keys: list[str], policy: ThrottlePolicy, now: float) -> None:
    """Raise ``TooManyAttempts`` (with the seconds to wait) while any of the keys is locked."""
    waits = [
        last + policy.lock_s(count) - now
        for count, last in store.failures(keys).values()
        if now < last + policy.lock_s(count)
    ]
    if waits:
        wait = max(1, math.ceil(max(waits)))
        raise TooManyAttempts(f"too many failed sign-ins; try again in {wait} s", retry_after_s=wait)


def note_failure(
    store: FeatureStore, keys: list[str], policy: ThrottlePolicy, now: float, user: str | None, address: str, what: str
) -> None:
    """Count a failed sign-in under ``keys`` and log it (as a lock when it starts one)."""
    counts = store.note_failures(keys, now, policy.forget_after_s)
    locked = max(policy.lock_s(c) for c in counts)
    event = f"{what}-locked" if locked else what
    detail = f"{max(counts)} failures" + (f", locked {int(locked)} s" if locked else "")
    store.log_auth_event(AuthEvent(0, now, event, user, address, detail))


def sign_in(
    store: FeatureStore,
    name: str,
    password: str,
    *,
    address: str,
    clock: Clock,
    throttle: ThrottlePolicy,
) -> tuple[str, StoredUser]:
    """Check a password and open a session; return the session id (for the cookie) and the account.

    Raises
    ------
    TooManyAttempts
        While the account or the address is locked (the password is not even checked then).
    NotAuthenticated
        For an unknown account, a wrong password, an account without a password or a disabled one
        (one message for all, so the answer does not tell which accounts exist).
    """
    now = clock()
    keys = throttle_keys(name, address)
    check_throttle(store, keys, throttle, now)
    user = store.user(name)
    if not password_matches(user.password_hash if user else None, password) or user is None or user.disabled_at:
        note_failure(store, keys, throttle, now, name, address, "sign-in-failed")
        raise NotAuthenticated("wrong user name or password")
    session_id = secrets.token_urlsafe(32)
    session = StoredSession(_hash(session_id), user.user, secrets.token_urlsafe(32), now, now, address)
    store.add_session(session, clear=keys, event=AuthEvent(0, now, "sign-in", user.user, address, None))
    return session_id, user


def session_for(store: FeatureStore, session_id: str, policy: SessionPolicy, clock: Clock) -> Session | None:
    """Return the live session named by a cookie, or None when unknown, revoked, expired or its user disabled."""
    sha = _hash(session_id)
    found = store.session_by_hash(sha)
    now = clock()
    if found is None or not hmac.compare_digest(sha, found.sha256):
        return None
    if now - found.seen_s > policy.idle_s or now - found.created_s > policy.absolute_s:
        store.end_session(sha, now)
        return None
    user = store.user(found.user)
    if user is None or user.disabled_at is not None:
        return None
    if now - found.seen_s > TOUCH_EVERY_S:
        store.touch_session(sha, now)
    principal = Principal(user.user, cast(Role, user.role), user.counties)
    return Session(principal, user.display_name, found.csrf_token, sha)


def sign_out(store: FeatureStore, session: Session, clock: Clock, everywhere: bool = False) -> int:
    """End this session, or every session of its user; return how many ended."""
    now = clock()
    if everywhere:
        event = AuthEvent(0, now, "sign-out-everywhere", session.principal.user, None, None)
        return store.revoke_sessions(session.principal.user, now, event)
    store.end_session(session.sha256, now)
    return 1
