"""Conversations and their turns, client API keys, uploaded documents; the ask log names its conversation."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _asks() -> str:
    return context.config.attributes["tables"]["asks"]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    asks = _asks()
    if "conversation_id" not in {c["name"] for c in inspector.get_columns(asks)}:
        op.add_column(asks, sa.Column("conversation_id", sa.String(64)))
        op.create_index(f"ix_{asks}_conversation_id", asks, ["conversation_id"])
    if not inspector.has_table("conversations"):
        op.create_table(
            "conversations",
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("owner", sa.String(64), index=True),
            sa.Column("title", sa.String(200), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
        )
    if not inspector.has_table("conversation_turns"):
        op.create_table(
            "conversation_turns",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("conversation_id", sa.String(64), nullable=False, index=True),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("content", sa.Text, nullable=False),
            sa.Column("request_id", sa.String(64)),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
    if not inspector.has_table("api_keys"):
        op.create_table(
            "api_keys",
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("name", sa.String(100), nullable=False, unique=True),
            sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
            sa.Column("prefix", sa.String(16), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True)),
        )
    if not inspector.has_table("documents"):
        op.create_table(
            "documents",
            sa.Column("document_id", sa.String(32), primary_key=True),
            sa.Column("source", sa.String(500), nullable=False, unique=True),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("size_bytes", sa.Integer, nullable=False),
            sa.Column("chunks", sa.Integer, nullable=False),
            sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    for table in ("documents", "api_keys", "conversation_turns", "conversations"):
        op.drop_table(table)
    asks = _asks()
    op.drop_index(f"ix_{asks}_conversation_id", table_name=asks)
    with op.batch_alter_table(asks) as batch:  # SQLite rebuilds the table; Postgres drops the column
        batch.drop_column("conversation_id")
