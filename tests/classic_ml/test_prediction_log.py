"""The prediction log: background batched writes, nothing lost on close, readable by monitoring; SQLite and Postgres."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from classic_ml.prediction_log import PredictionLog, log_rows, make_engine, read_predictions
from tests.classic_ml.helpers import PG_URL, RECORD, require_postgres


def _result(i: int) -> dict:
    return {"prediction": "Gentoo", "probabilities": {"Gentoo": 0.9, "Adelie": 0.1}, "unknown_categories": [], "i": i}


def _fill(plog: PredictionLog, requests: int, per_request: int, threads: int = 4) -> None:
    def worker(offset: int) -> None:
        for n in range(offset, requests, threads):
            records = [{**RECORD, "bill_length_mm": float(n)}] * per_request
            plog.append(log_rows(f"req-{n}", "classic-model", "3", records, [_result(n)] * per_request))

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def test_clean_shutdown_loses_no_rows_and_reads_back_with_features(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    plog = PredictionLog(engine, batch_rows=64, flush_interval_s=5.0)  # long interval: close() must flush
    _fill(plog, requests=300, per_request=3)
    plog.close()
    assert plog.written == 900 and plog.dropped == 0
    df = read_predictions(make_engine(f"sqlite:///{tmp_path / 'log.db'}"))
    assert len(df) == 900
    assert {"request_id", "row_index", "ts", "model_version", "prediction", "probabilities"} <= set(df.columns)
    assert set(RECORD) <= set(df.columns)  # one column per input feature, for drift monitoring
    assert df["row_index"].max() == 2 and df["probabilities"].iloc[0]["Gentoo"] == 0.9
    assert str(df["ts"].dt.tz) == "UTC"


def test_append_does_not_wait_for_the_database(tmp_path: Path) -> None:
    """Writes are off the request path: with the database locked, append still returns at once."""
    path = tmp_path / "log.db"
    plog = PredictionLog(make_engine(f"sqlite:///{path}"), batch_rows=1, flush_interval_s=0.01)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        _fill(plog, requests=20, per_request=2, threads=2)
        assert plog.flush(timeout_s=0.5) is False  # the writer is stuck behind the lock...
        assert plog.written == 0 and plog.dropped == 0  # ...yet every append has returned
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    plog.close()  # the lock is gone: everything queued gets written
    assert plog.written == 40 and plog.dropped == 0
    assert len(read_predictions(make_engine(f"sqlite:///{path}"))) == 40


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_read_limit_since_and_empty_log(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    assert read_predictions(engine).empty
    plog = PredictionLog(engine)
    _fill(plog, requests=10, per_request=1, threads=1)
    plog.close()
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    last = read_predictions(engine, limit=4)
    assert len(last) == 4 and list(last["bill_length_mm"]) == sorted(last["bill_length_mm"])  # oldest first
    assert last["ts"].is_monotonic_increasing
    assert read_predictions(engine, since=datetime.now(UTC) + timedelta(minutes=5)).empty
    assert len(read_predictions(engine, since=datetime.now(UTC) - timedelta(minutes=5))) == 10


def test_append_after_close_is_an_error(tmp_path: Path) -> None:
    plog = PredictionLog(make_engine(f"sqlite:///{tmp_path / 'log.db'}"))
    plog.close()
    with pytest.raises(RuntimeError, match="closed"):
        plog.append([])


@pytest.mark.postgres
def test_prediction_log_on_postgres() -> None:
    require_postgres()
    table = f"classic_predictions_{uuid.uuid4().hex[:8]}"
    plog = PredictionLog(make_engine(PG_URL), table, batch_rows=50)
    try:
        _fill(plog, requests=40, per_request=5)
        plog.close()
        df = read_predictions(make_engine(PG_URL), table_name=table)
        assert len(df) == 200 and set(RECORD) <= set(df.columns)
        assert df["probabilities"].iloc[0] == {"Gentoo": 0.9, "Adelie": 0.1}
    finally:
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')
        engine.dispose()
