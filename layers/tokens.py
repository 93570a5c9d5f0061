"""Access tokens and roles: who may read, report progress, import, audit and manage tokens.

Every token belongs to an account (``layers.accounts``); creating one for a new user name creates a
token-only account, and disabling the account revokes its tokens. Tokens are 32 random bytes
(``secrets.token_urlsafe``), shown once when created. Only their SHA-256 is stored, one row per token in
the store's token table (``FeatureStore.add_token`` and friends, each one transaction, so concurrent
creates and revokes never undo each other). A slow password hash (argon2id for passwords) protects
low-entropy secrets against guessing; a 256-bit random token cannot be guessed, so one SHA-256 is as
safe and keeps authentication cheap on every request: a presented token is looked up by its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast, get_args

from geo.errors import UserExists
from geo.storage.base import FeatureStore, StoredToken, StoredUser
from layers.errors import NotAuthenticated, PermissionDenied
from layers.registry import LayerRegistry

Role = Literal["viewer", "field", "planner", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
"""Roles from least to most privileged; each role may do everything the ones before it may."""

TOKEN_PREFIX = "pm_"
_USER = re.compile(r"^[\w.@-]{1,64}$")
_COUNTY = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Principal:
    """The holder of a valid token: a user name, a role and, for field teams, their counties."""

    user: str
    role: Role
    counties: tuple[str, ...] = ()

    def at_least(self, role: Role) -> bool:
        """Return whether this principal's role is ``role`` or a more privileged one."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class TokenRecord:
    """A stored token: its owner, role, counties, SHA-256 and creation time (never the token itself)."""

    user: str
    role: Role
    counties: tuple[str, ...]
    sha256: str
    created_at: str

    def principal(self) -> Principal:
        """Return the principal this token authenticates."""
        return Principal(self.user, self.role, self.counties)


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of a token (what is stored and compared).

    Examples
    --------
    >>> len(hash_token("pm_example"))
    64
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _record(stored: StoredToken) -> TokenRecord:
    return TokenRecord(stored.user, cast(Role, stored.role), stored.counties, stored.sha256, stored.created_at)


def _check_new(user: str, role: str, counties: tuple[str, ...]) -> None:
    if not _USER.match(user):
        raise ValueError(f"user name {user!r} must be 1-64 letters, digits or . _ @ -")
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    bad = [c for c in counties if not _COUNTY.match(c)]
    if bad:
        raise ValueError(f"county codes must be 6-digit adcodes, got {bad}")
    if role == "field" and not counties:
        raise ValueError("a field token needs at least one county (--county 430321,...)")


def create_token(store: FeatureStore, user: str, role: str, counties: Iterable[str] = ()) -> str:
    """Create (or replace) ``user``'s token and return it; only its hash is stored.

    Raises
    ------
    ValueError
        For a malformed user name or county code, an unknown role, or a field token without counties.
    """
    codes = tuple(dict.fromkeys(c.strip() for c in counties if c.strip()))
    _check_new(user, role, codes)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    _own(store, StoredUser(user, user, role, codes, created_at=created))
    store.add_token(StoredToken(hash_token(token), user, role, codes, created))
    return token


def _own(store: FeatureStore, owner: StoredUser) -> None:
    """Make sure a token's user has an account (a token-only one, no password, is created if not)."""
    found = store.user(owner.user)
    if found is None:
        try:
            store.add_user(owner)
        except UserExists:  # created meanwhile by another request: the token joins that account
            found = store.user(owner.user)
    if found is not None and found.disabled_at is not None:
        raise ValueError(f"the account {owner.user!r} is disabled; enable it before creating a token")


def list_tokens(store: FeatureStore) -> list[TokenRecord]:
    """Return the stored token records, by user name."""
    return [_record(t) for t in store.tokens()]


def revoke_token(store: FeatureStore, user: str) -> bool:
    """Revoke ``user``'s token; return whether there was one."""
    return store.revoke_tokens(user) > 0


def authenticate(store: FeatureStore, token: str) -> Principal:
    """Return the principal of a presented token.

    The hash is looked up, then compared once more in constant time. Lookup timing can tell at most how a
    presented token's SHA-256 relates to stored hashes, which reveals nothing about any stored token.

    Raises
    ------
    NotAuthenticated
        When no stored token matches, or its account is disabled.
    """
    presented = hash_token(token)
    found = store.token_by_hash(presented)
    if found is None or not hmac.compare_digest(presented, found.sha256):
        raise NotAuthenticated("the access token is not valid (unknown or revoked)")
    owner = store.user(found.user)
    if owner is not None and owner.disabled_at is not None:
        raise NotAuthenticated("the access token's account is disabled")
    return _record(found).principal()


def require_role(principal: Principal, role: Role) -> None:
    """Raise ``PermissionDenied`` unless the principal holds ``role`` or a more privileged one."""
    if not principal.at_least(role):
        raise PermissionDenied(f"user {principal.user!r} has role {principal.role!r}; this needs {role!r}")


def require_county(principal: Principal, county: str | None) -> None:
    """Raise ``PermissionDenied`` when a field team reports outside its assigned counties.

    Planners and admins may report everywhere; viewers may not report at all.
    """
    require_role(principal, "field")
    if principal.role == "field" and (county is None or str(county) not in principal.counties):
        raise PermissionDenied(
            f"user {principal.user!r} may report only in counties {', '.join(principal.counties)}, not in {county!r}"
        )


def private_view(registry: LayerRegistry) -> LayerRegistry:
    """Return the catalogue as token holders see it: non-public fields become public and queryable.

    Anonymous readers get the catalogue as it is; every reader with a token (viewer and up) gets this
    view, so items, exports and maps show e.g. the investment figures to them only.
    """
    view = LayerRegistry()
    for layer in registry:
        fields = tuple(
            f if f.public else f.model_copy(update={"public": True, "queryable": True}) for f in layer.fields
        )
        view = view.register(layer.model_copy(update={"fields": fields}))
    return view
