"""Access tokens get a table of their own, one row per token, moved out of the ``auth:tokens`` metadata value.

Creating and revoking a token become single statements, so concurrent ones cannot undo each other (the JSON
list in ``planmap_meta`` was read, changed and written back whole). Tokens found in that list are copied over,
so every token keeps working, and the list is removed.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from geo.storage.schema.tables import Key

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_META_KEY = "auth:tokens"


def upgrade(schema: str | None = None) -> None:
    """Create ``planmap_tokens`` and move the tokens from the metadata into it."""
    live = sa.text("revoked_at IS NULL")
    tokens = op.create_table(
        "planmap_tokens",
        sa.Column("sha256", Key, primary_key=True),
        sa.Column("user_name", Key, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("counties", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("revoked_at", sa.Text),
        schema=schema,
    )
    op.create_index(
        "planmap_tokens_live_user",
        "planmap_tokens",
        ["user_name"],
        unique=True,
        schema=schema,
        sqlite_where=live,
        postgresql_where=live,
    )
    if op.get_bind().dialect.name == "sqlite" and sa.inspect(op.get_bind()).has_table("gpkg_contents"):
        op.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
            "VALUES ('planmap_tokens', 'attributes', 'planmap_tokens', 'access tokens (SHA-256 only)', "
            "strftime('%Y-%m-%dT%H:%M:%fZ','now'))"
        )
    meta = _meta(schema)
    stored = op.get_bind().execute(sa.select(meta.c.value).where(meta.c.key == _META_KEY)).scalar()
    records = _parsed(stored) or []
    # The list held at most one token per user (create replaced it); the last one wins if not.
    by_user = {r["user"]: r for r in records}
    if by_user:
        op.bulk_insert(tokens, [_row(r) for r in by_user.values()])
    op.execute(meta.delete().where(meta.c.key == _META_KEY))


def downgrade(schema: str | None = None) -> None:
    """Put the live tokens back into the metadata list and drop the table."""
    tokens = sa.table(
        "planmap_tokens",
        *(sa.column(c) for c in ("sha256", "user_name", "role", "counties", "created_at", "revoked_at")),
        schema=schema,
    )
    rows = (
        op.get_bind()
        .execute(sa.select(tokens).where(tokens.c.revoked_at.is_(None)).order_by(tokens.c.user_name))
        .mappings()
    )
    records = [
        {
            "user": r["user_name"],
            "role": r["role"],
            "counties": [c for c in r["counties"].split(",") if c],
            "sha256": r["sha256"],
            "created_at": r["created_at"],
        }
        for r in rows
    ]
    if records:
        meta = _meta(schema)
        op.execute(meta.insert().values(key=_META_KEY, value=json.dumps(records, ensure_ascii=False)))
    op.drop_index("planmap_tokens_live_user", "planmap_tokens", schema=schema)
    op.drop_table("planmap_tokens", schema=schema)
    if op.get_bind().dialect.name == "sqlite" and sa.inspect(op.get_bind()).has_table("gpkg_contents"):
        op.execute("DELETE FROM gpkg_contents WHERE table_name = 'planmap_tokens'")


def _meta(schema: str | None) -> sa.TableClause:
    return sa.table("planmap_meta", sa.column("key"), sa.column("value"), schema=schema)


def _parsed(value: Any) -> list[dict[str, Any]] | None:
    """Return the stored list: PostgreSQL's driver parses ``json``, SQLite returns the text."""
    return json.loads(value) if isinstance(value, str) else value


def _row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "sha256": record["sha256"],
        "user_name": record["user"],
        "role": record["role"],
        "counties": ",".join(record.get("counties") or ()),
        "created_at": record["created_at"],
        "revoked_at": None,
    }
