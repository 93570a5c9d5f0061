"""Accounts, browser sessions, sign-in throttling and the access log; every token's user becomes an account.

Each user name found in ``planmap_tokens`` gets an account without a password, with the role and counties of
its newest token, so every token keeps working and is now owned by a user the admin page can manage.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from geo.storage.schema.tables import Counter, Key, Real

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_APPEND_ONLY = "planmap_auth_events is append-only"
_SQLITE_TRIGGERS = {
    "planmap_auth_events_no_update": "BEFORE UPDATE",
    "planmap_auth_events_no_delete": "BEFORE DELETE",
}
_GPKG_TABLES = {
    "planmap_users": "accounts (argon2id password hashes only)",
    "planmap_sessions": "browser sessions (SHA-256 of the session id only)",
    "planmap_login_failures": "recent failed sign-ins per account and address",
    "planmap_auth_events": "sign-ins, failures and account changes",
}


def _create_tables(schema: str | None) -> sa.Table:
    users = op.create_table(
        "planmap_users",
        sa.Column("user_name", Key, primary_key=True),
        sa.Column("display_name", sa.Text, nullable=False, server_default=""),
        sa.Column("phone", sa.Text),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("counties", sa.Text, nullable=False, server_default=""),
        sa.Column("password_hash", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("disabled_at", sa.Text),
        schema=schema,
    )
    op.create_table(
        "planmap_sessions",
        sa.Column("sha256", Key, primary_key=True),
        sa.Column("user_name", Key, nullable=False),
        sa.Column("csrf_token", sa.Text, nullable=False),
        sa.Column("created_s", Real, nullable=False),
        sa.Column("seen_s", Real, nullable=False),
        sa.Column("address", sa.Text, nullable=False, server_default=""),
        sa.Column("revoked_s", Real),
        schema=schema,
    )
    op.create_index("planmap_sessions_user", "planmap_sessions", ["user_name"], schema=schema)
    op.create_table(
        "planmap_login_failures",
        sa.Column("key", Key, primary_key=True),
        sa.Column("failures", Counter, nullable=False),
        sa.Column("last_s", Real, nullable=False),
        schema=schema,
    )
    op.create_table(
        "planmap_auth_events",
        sa.Column("seq", Counter, primary_key=True, autoincrement=True),
        sa.Column("at_s", Real, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("user_name", sa.Text),
        sa.Column("address", sa.Text),
        sa.Column("detail", sa.Text),
        sqlite_autoincrement=True,
        schema=schema,
    )
    return users


def _append_only(schema: str | None) -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name, when in _SQLITE_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} ON planmap_auth_events BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
            )
        if sa.inspect(op.get_bind()).has_table("gpkg_contents"):
            for table, description in _GPKG_TABLES.items():
                op.execute(
                    "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
                    f"VALUES ('{table}', 'attributes', '{table}', '{description}', "
                    "strftime('%Y-%m-%dT%H:%M:%fZ','now'))"
                )
    else:
        s = op.get_bind().dialect.identifier_preparer.quote_schema(schema or "public")
        op.execute(
            "CREATE TRIGGER planmap_auth_events_no_change BEFORE UPDATE OR DELETE "
            f"ON {s}.planmap_auth_events FOR EACH ROW EXECUTE FUNCTION {s}.planmap_append_only()"
        )


def upgrade(schema: str | None = None) -> None:
    """Create the account tables and give every token's user an account (no password, the token's role)."""
    users = _create_tables(schema)
    _append_only(schema)
    tokens = sa.table(
        "planmap_tokens", *(sa.column(c) for c in ("user_name", "role", "counties", "created_at")), schema=schema
    )
    newest: dict[str, sa.Row[tuple[str, str, str, str]]] = {}
    for row in op.get_bind().execute(sa.select(tokens).order_by(tokens.c.created_at)):
        newest[row.user_name] = row
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    rows = [
        {"user_name": r.user_name, "display_name": r.user_name, "role": r.role, "counties": r.counties}
        for r in newest.values()
    ]
    if rows:
        op.bulk_insert(users, [{**r, "created_at": now} for r in rows])


def downgrade(schema: str | None = None) -> None:
    """Drop the account tables (tokens stay in ``planmap_tokens`` as before)."""
    if op.get_bind().dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        if sa.inspect(op.get_bind()).has_table("gpkg_contents"):
            for table in _GPKG_TABLES:
                op.execute(f"DELETE FROM gpkg_contents WHERE table_name = '{table}'")
    op.drop_table("planmap_auth_events", schema=schema)
    op.drop_table("planmap_login_failures", schema=schema)
    op.drop_index("planmap_sessions_user", "planmap_sessions", schema=schema)
    op.drop_table("planmap_sessions", schema=schema)
    op.drop_table("planmap_users", schema=schema)
