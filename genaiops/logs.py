"""Reading the request logs back: one reader for every log table, one way to cut a log into windows.

The prediction log, the shadow log and the ask log are tables of ``settings.database_url`` with an
autoincrement ``id`` (write order) and a ``ts``. ``read_rows`` reads any of them oldest first (all, the
last ``limit`` or the first ``head`` rows); ``log_windows`` cuts one into consecutive blocks of ``size``
rows counted from the first row ever logged, so a full window never changes once written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from genaiops.db import make_engine
from genaiops.settings import Settings


@contextmanager
def log_engine(source: Settings | Engine) -> Iterator[Engine]:
    """An engine as it is, or a short-lived one on the settings' ``database_url``, disposed after the block."""
    if isinstance(source, Engine):
        yield source
        return
    owned = make_engine(source.database_url or "")
    try:
        yield owned
    finally:
        owned.dispose()


def count_rows(engine: Engine, table: sa.Table) -> int:
    """Rows in ``table``; 0 when it does not exist yet (nothing logged)."""
    if not sa.inspect(engine).has_table(table.name):
        return 0
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def read_rows(
    engine: Engine,
    table: sa.Table,
    *,
    limit: int | None = None,
    head: int | None = None,
    since: datetime | None = None,
    columns: Sequence[sa.Column[Any]] | None = None,
) -> list[dict[str, Any]] | None:
    """Rows of a log table, oldest first: all, the last ``limit`` or the first ``head`` (from ``since`` on).

    None when the table does not exist yet, so the caller can answer with an empty frame of its own shape.
    """
    if not sa.inspect(engine).has_table(table.name):
        return None
    newest_first = head is None
    query = sa.select(*(columns or table.columns)).order_by(table.c.id.desc() if newest_first else table.c.id)
    if since is not None:
        query = query.where(table.c.ts >= since)
    if limit is not None or head is not None:
        query = query.limit(head if head is not None else limit)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    if newest_first:
        rows.reverse()
    return rows


def min_window_rows(size: int) -> int:
    """A trailing partial window is shown once it has this many rows (a test on fewer says little)."""
    return max(10, size // 2)


@dataclass(frozen=True)
class LogWindow:
    index: int  # 0 = the first ``size`` rows ever logged
    rows: pd.DataFrame  # oldest first
    full: bool  # a full window never changes again (what was computed on it can be cached)


def log_windows(
    total: int,
    size: int,
    max_windows: int,
    read_latest: Callable[[int], pd.DataFrame],
    read_first: Callable[[int], pd.DataFrame] | None = None,
) -> list[LogWindow]:
    """The last ``max_windows`` windows of a log of ``total`` rows, oldest first.

    ``read_latest(n)`` returns the newest ``n`` rows, oldest first. With ``read_first(n)`` (the oldest ``n``
    rows) window 0 is always kept, as the reference, followed by the latest ``max_windows - 1``.
    """
    full, rest = divmod(total, size)
    last = full + (1 if rest >= min_window_rows(size) else 0)  # windows shown: [first, last)
    if last == 0:
        return []
    out: list[LogWindow] = []
    first = max(0, last - max_windows)
    if read_first is not None:
        first = max(1, last - (max_windows - 1))
        reference = read_first(size).reset_index(drop=True)
        out.append(LogWindow(0, reference, len(reference) == size))
    if last > first:
        recent = read_latest(total - first * size)
        for index in range(first, last):
            start = (index - first) * size
            rows = recent.iloc[start : start + size].reset_index(drop=True)
            out.append(LogWindow(index, rows, len(rows) == size))
    return out
