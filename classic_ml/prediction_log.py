"""The durable prediction log: one row per predicted record, for monitoring and audits.

Writes stay off the request path: ``append`` puts rows on a bounded queue and returns; a
background thread writes them in batches (one transaction per batch). ``close`` drains the queue
and flushes, so a clean shutdown loses nothing. If the queue stays full (database far slower
than traffic) ``append`` waits up to ``put_timeout_s`` then drops the rows with an error log line:
the API keeps answering. SQLite runs in WAL mode so readers (monitoring) never block the writer.
The queue and writer thread are ``genaiops.db.BatchWriter``, shared with the RAG ask log.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from genaiops.db import BatchWriter, make_engine
from genaiops.logs import log_engine, read_rows
from genaiops.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_TABLE = "classic_predictions"
__all__ = ["DEFAULT_TABLE", "PredictionLog", "build_prediction_log", "log_rows", "make_engine", "read_predictions"]


def prediction_table(
    name: str = DEFAULT_TABLE, metadata: sa.MetaData | None = None, extra: tuple[sa.Column, ...] = ()
) -> sa.Table:
    """The log's table; ``extra`` columns extend it (the shadow log: the champion's answer next to the challenger's)."""
    return sa.Table(
        name,
        metadata or sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False, index=True),
        sa.Column("row_index", sa.Integer, nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("prediction", sa.JSON),
        sa.Column("probabilities", sa.JSON),
        sa.Column("unknown_categories", sa.JSON),
        *extra,
    )


class PredictionLog(BatchWriter):
    """The prediction table behind the shared background writer (``genaiops.db.BatchWriter``)."""

    def __init__(self, engine: Engine, table_name: str = DEFAULT_TABLE, **writer_options: Any) -> None:
        super().__init__(engine, prediction_table(table_name), name="prediction-log", **writer_options)


def build_prediction_log(settings: Settings) -> PredictionLog:
    assert settings.database_url is not None
    c = settings.classic
    return PredictionLog(
        make_engine(settings.database_url),
        c.prediction_log_table,
        queue_size=c.log_queue_size,
        batch_rows=c.log_batch_rows,
        flush_interval_s=c.log_flush_interval_s,
    )


def log_rows(
    request_id: str, model_name: str, model_version: str, records: list[dict], results: list[dict]
) -> list[dict[str, Any]]:
    """Table rows for one request (one per record)."""
    now = datetime.now(UTC)
    return [
        {
            "request_id": request_id,
            "row_index": i,
            "ts": now,
            "model_name": model_name,
            "model_version": model_version,
            "inputs": record,
            "prediction": result["prediction"],
            "probabilities": result["probabilities"],
            "unknown_categories": result["unknown_categories"],
        }
        for i, (record, result) in enumerate(zip(records, results, strict=True))
    ]


def read_predictions(
    source: Settings | Engine,
    limit: int | None = None,
    since: datetime | None = None,
    table_name: str | None = None,
) -> pd.DataFrame:
    """Logged predictions, oldest first (the last ``limit`` when given), with one column per input feature.

    Columns: request_id, row_index (position in its request), ts (UTC), model_name, model_version, prediction,
    probabilities (dict), unknown_categories (list), then the input features (a feature named like a log column
    is prefixed ``input_``).
    """
    name = source.classic.prediction_log_table if isinstance(source, Settings) else DEFAULT_TABLE
    table = prediction_table(table_name or name)
    with log_engine(source) as engine:
        rows = read_rows(engine, table, limit=limit, since=since)
    if rows is None:
        return pd.DataFrame(columns=[c.name for c in table.columns if c.name not in {"id", "inputs"}])
    meta = pd.DataFrame(rows).drop(columns=["id", "inputs"], errors="ignore")
    if rows:  # SQLite hands back naive datetimes: they are UTC, say so
        meta["ts"] = pd.to_datetime(meta["ts"], utc=True)
    inputs = pd.DataFrame([r["inputs"] for r in rows])
    inputs.columns = [f"input_{c}" if c in meta.columns else c for c in inputs.columns]
    return pd.concat([meta, inputs], axis=1) if rows else meta
