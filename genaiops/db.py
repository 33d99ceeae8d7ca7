"""The operational database (``settings.database_url``): engines and the background batch writer.

Both request logs (classic predictions, RAG asks) write through ``BatchWriter`` so a slow database
never slows an answer down: ``append`` puts rows on a bounded queue and returns; one thread (the shared
``genaiops.worker.QueueWorker``) writes them in batches (one transaction per batch). ``flush`` waits until
everything queued so far is written (monitoring reads after it), ``close`` drains the queue, so a clean
shutdown loses nothing.
If the queue stays full ``append`` waits up to ``put_timeout_s`` then drops the rows with an error
log line: the API keeps answering. SQLite runs in WAL mode so readers never block the writer.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from genaiops.worker import QueueWorker

log = logging.getLogger(__name__)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode and a busy timeout so concurrent readers are fine."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _wal(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class BatchWriter:
    """A ``QueueWorker`` (``genaiops.worker``) inserting into ``table``; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        table: sa.Table,
        *,
        name: str = "batch-writer",
        queue_size: int = 10_000,
        batch_rows: int = 500,
        flush_interval_s: float = 0.2,
        put_timeout_s: float = 1.0,
    ) -> None:
        self.engine = engine
        self.table = table
        self.name = name
        self.table.metadata.create_all(engine, tables=[table])
        self.batch_rows, self.flush_interval_s, self.put_timeout_s = batch_rows, flush_interval_s, put_timeout_s
        self.written = self.dropped = 0
        self._worker: QueueWorker[list[dict[str, Any]]] = QueueWorker(
            f"{name}-writer",
            lambda batches: self._write([row for rows in batches for row in rows]),
            queue_size=queue_size,
            batch_size=batch_rows,
            batch_interval_s=flush_interval_s,
            weight=len,
        )

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Queue rows (dicts with the table's columns but ``id``); never raises on a slow database."""
        if self._worker.closed:
            raise RuntimeError(f"{self.name} is closed")
        if not self._worker.submit(rows, timeout_s=self.put_timeout_s):
            self.dropped += len(rows)
            log.error("%s queue full for %.1fs: dropped %d row(s)", self.name, self.put_timeout_s, len(rows))

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until the rows queued before this call are written (False on timeout or when closed)."""
        return self._worker.flush(timeout_s)

    def prepare(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Hook run on the writer thread before a batch is inserted (subclasses fill costly columns here)."""
        return rows

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            rows = self.prepare(rows)
        except Exception:  # noqa: BLE001 - a failed enrichment must not lose the rows
            log.exception("%s: preparing %d row(s) failed; writing them as they are", self.name, len(rows))
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    conn.execute(self.table.insert(), rows)
                self.written += len(rows)
                return
            except Exception:  # noqa: BLE001 - the writer must survive a database hiccup
                log.exception("%s: writing %d row(s) failed (attempt %d/3)", self.name, len(rows), attempt + 1)
                time.sleep(0.2 * (attempt + 1))
        self.dropped += len(rows)

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush everything queued, stop the writer and release the engine."""
        if self._worker.closed:
            return
        if not self._worker.close(timeout_s):
            log.error("%s writer did not finish in %.0fs", self.name, timeout_s)
        self.engine.dispose()
