"""Baseline: the prediction log and the ask log as ``create_all`` made them before migrations existed.

A database created by that older code already has both tables: they are kept as they are, rows
included, and only the version is recorded. A fresh database gets them created here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> dict[str, str]:
    return context.config.attributes["tables"]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    predictions, asks = _tables()["predictions"], _tables()["asks"]
    if not inspector.has_table(predictions):
        op.create_table(
            predictions,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("request_id", sa.String(64), nullable=False),
            sa.Column("row_index", sa.Integer, nullable=False),
            sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
            sa.Column("model_name", sa.String(200), nullable=False),
            sa.Column("model_version", sa.String(50), nullable=False),
            sa.Column("inputs", sa.JSON, nullable=False),
            sa.Column("prediction", sa.JSON),
            sa.Column("probabilities", sa.JSON),
            sa.Column("unknown_categories", sa.JSON),
        )
        op.create_index(f"ix_{predictions}_request_id", predictions, ["request_id"])
        op.create_index(f"ix_{predictions}_ts", predictions, ["ts"])
    if not inspector.has_table(asks):
        op.create_table(
            asks,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("request_id", sa.String(64), nullable=False),
            sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
            sa.Column("question", sa.Text, nullable=False),
            sa.Column("question_embedding", sa.LargeBinary),
            sa.Column("answer_chars", sa.Integer, nullable=False),
            sa.Column("top_score", sa.Float),
            sa.Column("n_sources", sa.Integer, nullable=False),
            sa.Column("sources", sa.JSON),
            sa.Column("mode", sa.String(20), nullable=False),
            sa.Column("grounded", sa.Boolean, nullable=False),
            sa.Column("latency_ms", sa.Float),
            sa.Column("retrieve_ms", sa.Float),
            sa.Column("generate_ms", sa.Float),
            sa.Column("tokens", sa.Integer),
            sa.Column("prompt_name", sa.String(200)),
            sa.Column("prompt_version", sa.String(50)),
            sa.Column("model", sa.String(200)),
            sa.Column("rating", sa.String(8)),
            sa.Column("comment", sa.Text),
            sa.Column("feedback_ts", sa.DateTime(timezone=True)),
        )
        op.create_index(f"ix_{asks}_request_id", asks, ["request_id"])
        op.create_index(f"ix_{asks}_ts", asks, ["ts"])


def downgrade() -> None:
    """The baseline is where history starts: the logs are never dropped by a downgrade."""
