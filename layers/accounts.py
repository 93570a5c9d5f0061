"""Accounts: people with a login name, display name, phone, role, counties and an argon2id password.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults: RFC 9106's low-memory profile) and never
stored, logged or echoed. An account without a password (e.g. one migrated from a token) signs in only
with a token. Disabling an account revokes its sessions and tokens at once; changing a password revokes
its sessions. Every change is written to the access log with the acting administrator's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from geo.errors import UnknownUser
from geo.storage.base import AuthEvent, FeatureStore, StoredUser
from layers.errors import InvalidAccount
from layers.tokens import ROLES

Clock = Callable[[], float]
"""Returns the time in epoch seconds (``time.time``); tests pass their own."""

MIN_PASSWORD = 10
MAX_PASSWORD = 256
_HASHER = PasswordHasher()
_USER = re.compile(r"^[\w.@-]{1,64}$")
_COUNTY = re.compile(r"^\d{6}$")
_PHONE = re.compile(r"^\+?[\d -]{5,20}$")
# Verifying against this keeps an unknown user's sign-in as slow as a known one's (no user enumeration by timing).
_DUMMY_HASH = _HASHER.hash("planmap-no-such-user")


def hash_password(password: str) -> str:
    """Return the argon2id hash of a password after checking its length.

    Raises
    ------
    InvalidAccount
        For a password shorter than ``MIN_PASSWORD`` or longer than ``MAX_PASSWORD`` characters.
    """
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidAccount(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return _HASHER.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Return whether ``password`` matches the stored hash (always spends one argon2 verification)."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _iso(at_s: float) -> str:
    return datetime.fromtimestamp(at_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_details(name: str, role: str, counties: tuple[str, ...], phone: str | None) -> None:
    """Raise ``InvalidAccount`` for a malformed name, role, county list or phone number."""
    if not _USER.match(name):
        raise InvalidAccount(f"user name {name!r} must be 1-64 letters, digits or . _ @ -")
    if role not in ROLES:
        raise InvalidAccount(f"role {role!r} is not one of {', '.join(ROLES)}")
    bad = [c for c in counties if not _COUNTY.match(c)]
    if bad:
        raise InvalidAccount(f"county codes must be 6-digit adcodes, got {bad}")
    if role == "field" and not counties:
        raise InvalidAccount("a field account needs at least one county")
    if phone and not _PHONE.match(phone):
        raise InvalidAccount(f"phone {phone!r} must be 5-20 digits, spaces or dashes")


def county_list(counties: Iterable[str] | str) -> tuple[str, ...]:
    """Return county codes from a list or a comma-separated string, stripped and without repeats."""
    items = counties.split(",") if isinstance(counties, str) else counties
    return tuple(dict.fromkeys(c.strip() for c in items if c.strip()))


def create_user(
    store: FeatureStore,
    name: str,
    *,
    role: str,
    display_name: str = "",
    counties: Iterable[str] | str = (),
    phone: str | None = None,
    password: str | None = None,
    actor: str,
    clock: Clock,
) -> StoredUser:
    """Create an account (password hashed; None: token sign-in only) and log it.

    Raises
    ------
    InvalidAccount
        For malformed details or a password of the wrong length.
    UserExists
        When the name is taken.
    """
    codes = county_list(counties)
    phone = (phone or "").strip() or None
    check_details(name, role, codes, phone)
    now = clock()
    user = StoredUser(
        name,
        display_name.strip()[:100] or name,
        role,
        codes,
        phone,
        hash_password(password) if password is not None else None,
        _iso(now),
    )
    store.add_user(user, AuthEvent(0, now, "user-created", name, None, f"role {role} by {actor}"))
    return user


def existing(store: FeatureStore, name: str) -> StoredUser:
    """Return the account; ``UnknownUser`` when there is none."""
    user = store.user(name)
    if user is None:
        raise UnknownUser(f"no account {name!r}")
    return user


def set_password(store: FeatureStore, name: str, password: str, *, actor: str, clock: Clock) -> None:
    """Replace an account's password and end its sessions (they were opened with the old one)."""
    user = existing(store, name)
    now = clock()
    event = AuthEvent(0, now, "password-set", name, None, f"by {actor}")
    store.update_user(replace(user, password_hash=hash_password(password)), end_access=True, event=event)


def set_disabled(store: FeatureStore, name: str, disabled: bool, *, actor: str, clock: Clock) -> None:
    """Disable an account (its sessions and tokens end at once) or enable it again."""
    user = existing(store, name)
    now = clock()
    event = AuthEvent(0, now, "user-disabled" if disabled else "user-enabled", name, None, f"by {actor}")
    store.update_user(replace(user, disabled_at=_iso(now) if disabled else None), end_access=disabled, event=event)


def ensure_user(store: FeatureStore, name: str, role: str, counties: tuple[str, ...], clock: Clock) -> StoredUser:
    """Return the account, creating a token-only one (no password) with this role when there is none."""
    user = store.user(name)
    if user is not None:
        return user
    return create_user(store, name, role=role, counties=counties, actor="token", clock=clock)
