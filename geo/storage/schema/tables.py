"""The planmap system tables (history, versions, metadata, tokens, documents, accounts, report keys): one MetaData.

This is the head of the schema both stores hold; the revisions under ``migrations/versions`` build it step
by step (``alembic check`` against this metadata finds no difference after ``upgrade``). Each column type
is written once with its per-dialect spelling, so the GeoPackage keeps SQLite's TEXT dates and 0/1 flags
while PostgreSQL gets ``date``, ``json``, ``boolean`` and byte-ordered ``COLLATE "C"`` keys.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

Key = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")
"""Text compared and sorted byte by byte on both stores (SQLite's default, ``COLLATE "C"`` on PostgreSQL)."""
IsoDate = sa.Text().with_variant(postgresql.DATE(), "postgresql")
"""A calendar date: ISO text in SQLite, ``date`` in PostgreSQL."""
JsonText = sa.Text().with_variant(postgresql.JSON(), "postgresql")
"""A JSON document: text in SQLite, ``json`` (kept as written) in PostgreSQL."""
Flag = sa.Boolean().with_variant(sqlite.INTEGER(), "sqlite")
"""A boolean: 0/1 INTEGER in SQLite, ``boolean`` in PostgreSQL."""
Counter = sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
"""A 64-bit integer; SQLite's INTEGER (so an INTEGER PRIMARY KEY stays the rowid)."""
Real: sa.types.TypeEngine[float] = sa.Double().with_variant(sqlite.REAL(), "sqlite")
"""A double: REAL in SQLite, ``double precision`` in PostgreSQL."""

metadata = sa.MetaData()

history = sa.Table(
    "planmap_history",
    metadata,
    sa.Column("seq", Counter, primary_key=True, autoincrement=True),
    sa.Column("layer", Key, nullable=False),
    sa.Column("feature_id", Key, nullable=False),
    sa.Column("date", IsoDate, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("percent", Real),
    sa.Column("note", sa.Text),
    sa.Column("author", sa.Text),
    sa.Column("recorded_at", sa.Text, nullable=False),
    sa.Column("data", JsonText),
    sa.Column("is_demo", Flag, nullable=False, server_default=sa.false()),
    sa.Index("planmap_history_feature", "layer", "feature_id", "date"),
    sa.Index("planmap_history_date", "layer", "date"),
    sqlite_autoincrement=True,
)
"""The append-only progress history (triggers refuse UPDATE, DELETE and, on PostgreSQL, TRUNCATE)."""

versions = sa.Table(
    "planmap_versions",
    metadata,
    sa.Column("layer", Key, primary_key=True),
    sa.Column("version", Counter, nullable=False),
    sa.Column("geometry_version", Counter, nullable=False, server_default="0"),
)
"""The write counter of each layer, and the counter of those writes that may change its geometry."""

meta = sa.Table(
    "planmap_meta",
    metadata,
    sa.Column("key", Key, primary_key=True),
    sa.Column("value", JsonText, nullable=False),
)
"""JSON values by key. In a GeoPackage GDAL creates it as an attributes table (``fid`` key, unique ``key``)."""

tokens = sa.Table(
    "planmap_tokens",
    metadata,
    sa.Column("sha256", Key, primary_key=True),
    sa.Column("user_name", Key, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("counties", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("revoked_at", sa.Text),
    # At most one live token per user: a second concurrent create cannot leave two behind.
    sa.Index(
        "planmap_tokens_live_user",
        "user_name",
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    ),
)
"""One row per access token (its SHA-256 only); revoking sets ``revoked_at`` and keeps the row."""

records = sa.Table(
    "planmap_records",
    metadata,
    sa.Column("kind", Key, primary_key=True),
    sa.Column("key", Key, primary_key=True),
    sa.Column("version", Counter, nullable=False),
    sa.Column("doc", JsonText, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
)
"""Small JSON documents edited in planmap (plans with their targets and quotas), one row per live document."""

record_revisions = sa.Table(
    "planmap_record_revisions",
    metadata,
    sa.Column("seq", Counter, primary_key=True, autoincrement=True),
    sa.Column("kind", Key, nullable=False),
    sa.Column("key", Key, nullable=False),
    sa.Column("version", Counter, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("doc", JsonText),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.Text, nullable=False),
    sa.Index("planmap_record_revisions_key", "kind", "key", "version"),
    sqlite_autoincrement=True,
)
"""Every version a document had (create, update, delete), append-only like the progress history."""

users = sa.Table(
    "planmap_users",
    metadata,
    sa.Column("user_name", Key, primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False, server_default=""),
    sa.Column("phone", sa.Text),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("counties", sa.Text, nullable=False, server_default=""),
    sa.Column("password_hash", sa.Text),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("disabled_at", sa.Text),
)
"""People who use planmap: role, counties and (for browser sign-in) an argon2id password hash, never the password."""

sessions = sa.Table(
    "planmap_sessions",
    metadata,
    sa.Column("sha256", Key, primary_key=True),
    sa.Column("user_name", Key, nullable=False),
    sa.Column("csrf_token", sa.Text, nullable=False),
    sa.Column("created_s", Real, nullable=False),
    sa.Column("seen_s", Real, nullable=False),
    sa.Column("address", sa.Text, nullable=False, server_default=""),
    sa.Column("revoked_s", Real),
    sa.Index("planmap_sessions_user", "user_name"),
)
"""Browser sessions: the SHA-256 of the session id (never the id), its CSRF token and its times (epoch seconds)."""

login_failures = sa.Table(
    "planmap_login_failures",
    metadata,
    sa.Column("key", Key, primary_key=True),
    sa.Column("failures", Counter, nullable=False),
    sa.Column("last_s", Real, nullable=False),
)
"""Recent failed sign-ins per account (``user:NAME``) and per client address (``addr:IP``), shared by workers."""

auth_events = sa.Table(
    "planmap_auth_events",
    metadata,
    sa.Column("seq", Counter, primary_key=True, autoincrement=True),
    sa.Column("at_s", Real, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("user_name", sa.Text),
    sa.Column("address", sa.Text),
    sa.Column("detail", sa.Text),
    sqlite_autoincrement=True,
)
"""The access log planners read: sign-ins, failures, lock-outs, account changes (append-only)."""

idempotency = sa.Table(
    "planmap_idempotency",
    metadata,
    sa.Column("layer", Key, primary_key=True),
    sa.Column("key", Key, primary_key=True),
    sa.Column("feature_id", Key, nullable=False),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("seq", Counter, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("response", JsonText),
)
"""The ``Idempotency-Key`` of each progress report (unique per layer), inserted in the report's transaction;
``response`` is the first answer (status, body, headers), replayed to a retry with the same key."""

VERSION_TABLE = "planmap_alembic_version"
"""Alembic's version table, named with the reserved ``planmap_`` prefix so no layer can take its name."""
