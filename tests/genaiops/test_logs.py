"""Reading a request log back and cutting it into windows: the one reader and windowing of every log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from genaiops.db import make_engine
from genaiops.logs import count_rows, log_windows, min_window_rows, read_rows

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def a_log(tmp_path: Path, n: int) -> tuple[sa.Engine, sa.Table]:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    table = sa.Table(
        "log", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("ts", sa.DateTime(timezone=True))
    )
    assert read_rows(engine, table) is None and count_rows(engine, table) == 0  # not there yet: nothing logged
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"ts": T0 + timedelta(minutes=i)} for i in range(n)])
    return engine, table


def test_rows_come_oldest_first_all_the_last_or_the_first(tmp_path: Path) -> None:
    engine, table = a_log(tmp_path, 10)
    assert count_rows(engine, table) == 10
    assert [r["id"] for r in read_rows(engine, table) or []] == list(range(1, 11))
    assert [r["id"] for r in read_rows(engine, table, limit=3) or []] == [8, 9, 10]
    assert [r["id"] for r in read_rows(engine, table, head=3) or []] == [1, 2, 3]
    since = read_rows(engine, table, since=T0 + timedelta(minutes=7), columns=[table.c.id])
    assert since == [{"id": 8}, {"id": 9}, {"id": 10}]


def frame(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"row": range(start, start + n)})


def windows(total: int, size: int, max_windows: int, keep_first: bool = False) -> list[tuple[int, int, bool, int]]:
    """(index, rows, full, first row) of each window of a log whose rows are numbered 0..total-1."""
    found = log_windows(
        total,
        size,
        max_windows,
        lambda n: frame(n, total - n),
        read_first=(lambda n: frame(min(n, total))) if keep_first else None,
    )
    return [(w.index, len(w.rows), w.full, int(w.rows["row"].iloc[0])) for w in found]


def test_windows_are_blocks_from_the_first_row_and_a_young_trailing_one_waits() -> None:
    assert min_window_rows(20) == 10 and min_window_rows(200) == 100
    assert windows(9, 20, 12) == []
    assert windows(45, 20, 12) == [(0, 20, True, 0), (1, 20, True, 20)]  # 5 trailing rows wait
    assert windows(55, 20, 12) == [(0, 20, True, 0), (1, 20, True, 20), (2, 15, False, 40)]
    assert windows(100, 20, 2) == [(3, 20, True, 60), (4, 20, True, 80)]  # the latest max_windows


def test_the_reference_window_is_kept_before_the_latest_ones() -> None:
    assert windows(15, 20, 12, keep_first=True) == [(0, 15, False, 0)]
    assert windows(100, 20, 3, keep_first=True) == [(0, 20, True, 0), (3, 20, True, 60), (4, 20, True, 80)]
