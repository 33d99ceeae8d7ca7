"""Shadow scoring: the registry's ``challenger`` answers every ``/predict`` too, off the request path.

``/predict`` answers with the champion as always, then hands the records and the champion's answers to
``ShadowScorer.submit``: a ``put_nowait`` on a bounded queue, whatever the challenger costs. One thread
scores the challenger and writes one row per record to the shadow log (the prediction log's columns with
the challenger's answer, plus ``champion_version``, ``champion_prediction`` and ``agree``), through the same
background writer as the other logs. A full queue drops the records and counts them (``stats``).

``shadow_summary`` reads the log back for ``GET /monitoring/classic``: agreement rate, per-class
disagreement, and the challenger's own input drift (its training sample against the traffic it scored);
``shadow_accuracy`` joins labels (the retrain labels file) for the accuracy of both on shadow traffic, which
``genaiops release promote --with-classic`` can require.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from classic_ml.prediction_log import log_rows, prediction_table, read_predictions
from classic_ml.registry import LoadedModel
from classic_ml.scoring import Scorer
from genaiops.db import BatchWriter, make_engine
from genaiops.logs import log_engine, read_rows
from genaiops.settings import Settings
from genaiops.worker import QueueWorker

log = logging.getLogger(__name__)

STATS = ("queued", "scored", "dropped", "failed")


def shadow_table(name: str, metadata: sa.MetaData | None = None) -> sa.Table:
    extra = (
        sa.Column("champion_version", sa.String(50)),
        sa.Column("champion_prediction", sa.JSON),
        sa.Column("agree", sa.Boolean),
    )
    return prediction_table(name, metadata, extra)


ShadowItem = tuple[str, str, list[dict[str, Any]], list[dict[str, Any]]]  # request id, champion, records, answers


class ShadowScorer:
    """The challenger behind a bounded queue and one thread; ``submit`` never blocks and never raises."""

    def __init__(
        self, model: LoadedModel, writer: BatchWriter | None, queue_size: int = 1000, scorer: Any = None
    ) -> None:
        self.model = model
        self.scorer = scorer if scorer is not None else Scorer(model)
        self.writer = writer
        self.stats = dict.fromkeys(STATS, 0)
        self._lock = threading.Lock()
        self._worker: QueueWorker[ShadowItem] = QueueWorker("shadow-challenger", self._score, queue_size=queue_size)

    @property
    def version(self) -> str:
        return str(self.model.version)

    def submit(
        self, request_id: str, champion_version: str, records: list[dict[str, Any]], results: list[dict[str, Any]]
    ) -> bool:
        """Queue a request's records and the champion's answers; False (and counted) when dropped."""
        if self._worker.closed:
            return False
        try:
            queued = self._worker.submit((request_id, champion_version, records, results))
        except Exception:  # noqa: BLE001 - the shadow must never cost /predict its answer
            log.debug("could not queue shadow records", exc_info=True)
            return False
        self._count("queued" if queued else "dropped", len(records))
        return queued

    def _count(self, key: str, n: int) -> None:
        with self._lock:
            self.stats[key] += n

    def _score(self, batch: list[ShadowItem]) -> None:
        for request_id, champion_version, records, results in batch:
            try:
                rows = shadow_rows(self.model, request_id, champion_version, records, results, self.scorer)
                if self.writer is not None:
                    self.writer.append(rows)
                self._count("scored", len(rows))
            except Exception:  # noqa: BLE001 - one failed scoring must not stop the shadow
                self._count("failed", len(records))
                log.warning("challenger v%s could not score request %s", self.version, request_id, exc_info=True)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued is scored and written (monitoring reads after it, tests)."""
        deadline = time.monotonic() + timeout_s
        if not self._worker.flush(timeout_s):
            return False
        return self.writer.flush(max(0.1, deadline - time.monotonic())) if self.writer is not None else True

    def close(self, timeout_s: float = 5.0) -> None:
        """Score what is queued (bounded wait), stop the thread and the writer."""
        self._worker.close(timeout_s)
        if self.writer is not None:
            self.writer.close()


def shadow_rows(
    model: LoadedModel,
    request_id: str,
    champion_version: str,
    records: list[dict[str, Any]],
    champion: list[dict[str, Any]],
    scorer: Any,
) -> list[dict[str, Any]]:
    """The shadow log's rows of one request: the challenger's answers next to the champion's."""
    mine = scorer.predict_records(records)
    rows = log_rows(request_id, model.name, str(model.version), records, mine)
    for row, theirs in zip(rows, champion, strict=True):
        row["champion_version"] = champion_version
        row["champion_prediction"] = theirs["prediction"]
        row["agree"] = row["prediction"] == theirs["prediction"]
    return rows


def build_shadow(settings: Settings, model: LoadedModel) -> ShadowScorer:
    c = settings.classic
    writer = BatchWriter(
        make_engine(settings.database_url or ""),
        shadow_table(c.shadow_log_table),
        name="shadow-log",
        queue_size=c.log_queue_size,
        batch_rows=c.log_batch_rows,
        flush_interval_s=c.log_flush_interval_s,
    )
    return ShadowScorer(model, writer, c.shadow_queue_size)


# -- reading the shadow log back ------------------------------------------------------------------------


def read_shadow(source: Settings | Engine, limit: int | None = None, table_name: str | None = None) -> pd.DataFrame:
    """Shadow rows, oldest first, with the agreement columns (the inputs as in ``read_predictions``)."""
    name = source.classic.shadow_log_table if isinstance(source, Settings) else table_name or "classic_shadow"
    table = shadow_table(name)
    columns = (table.c.id, table.c.champion_version, table.c.champion_prediction, table.c.agree)
    with log_engine(source) as engine:
        agreement_rows = read_rows(engine, table, limit=limit, columns=columns)
        if agreement_rows is None:
            return pd.DataFrame(columns=["request_id", "row_index", "model_version", "prediction", "champion_version",
                                         "champion_prediction", "agree"])  # fmt: skip
        frame = read_predictions(engine, limit=limit, table_name=name)
    extra = pd.DataFrame(agreement_rows)
    if frame.empty:
        return frame
    return pd.concat([frame.reset_index(drop=True), extra.drop(columns=["id"]).reset_index(drop=True)], axis=1)


def agreement(rows: pd.DataFrame) -> dict[str, Any]:
    """Agreement rate and, per class the champion predicted, how often the challenger said otherwise."""
    per_class = {}
    for label, group in rows.groupby(rows["champion_prediction"].astype(str), sort=True):
        said = group.loc[~group["agree"].astype(bool), "prediction"].astype(str).value_counts()
        per_class[str(label)] = {
            "rows": len(group),
            "disagreement_rate": round(float(1 - group["agree"].astype(bool).mean()), 4),
            "challenger_said": {str(k): int(v) for k, v in said.items()},
        }
    return {
        "rows": len(rows),
        "agreement_rate": round(float(rows["agree"].astype(bool).mean()), 4) if len(rows) else None,
        "per_class": per_class,
    }


def latest_pair(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the most recent (champion, challenger) pair: a new version starts its own count."""
    if rows.empty:
        return rows
    last = rows.iloc[-1]
    same = (rows["champion_version"].astype(str) == str(last["champion_version"])) & (
        rows["model_version"].astype(str) == str(last["model_version"])
    )
    return rows[same]


def shadow_accuracy(rows: pd.DataFrame, labels: pd.DataFrame, target: str) -> dict[str, Any]:
    """Accuracy of the champion and of the challenger on the labelled shadow rows (joined on request, row)."""
    keys = rows.assign(request_id=rows["request_id"].astype(str), row_index=rows["row_index"].astype(int))
    joined = keys.merge(labels, on=["request_id", "row_index"], how="inner")
    if joined.empty:
        return {"labelled": 0, "champion_accuracy": None, "challenger_accuracy": None, "gain": None}
    truth = joined[target].astype(str)
    champion = float((joined["champion_prediction"].astype(str) == truth).mean())
    challenger = float((joined["prediction"].astype(str) == truth).mean())
    return {
        "labelled": len(joined),
        "champion_accuracy": round(champion, 4),
        "challenger_accuracy": round(challenger, 4),
        "gain": round(challenger - champion, 4),
    }


def shadow_summary(
    settings: Settings,
    challenger: LoadedModel | None,
    *,
    stats: dict[str, int] | None = None,
    engine: Engine | None = None,
    window: int | None = None,
) -> dict[str, Any] | None:
    """The ``shadow`` section of ``GET /monitoring/classic``; None without a challenger or shadow rows."""
    from classic_ml.drift import NoReferenceError, count_windows, load_reference, window_summary

    m, table = settings.monitoring, settings.classic.shadow_log_table
    size = window or m.window
    owned = engine is None
    engine = engine or make_engine(settings.database_url or "")
    try:
        rows = latest_pair(read_shadow(engine, limit=size * m.max_windows, table_name=table))
        if challenger is None and rows.empty:
            return None
        windows = count_windows(engine, table, size, m.max_windows) if challenger is not None else []
    finally:
        if owned:
            engine.dispose()
    version = str(challenger.version) if challenger is not None else str(rows["model_version"].iloc[-1])
    out: dict[str, Any] = {
        "challenger": {"name": settings.classic.registered_model, "version": version},
        "champion_version": None if rows.empty else str(rows["champion_version"].iloc[-1]),
        **agreement(rows),
        "queue": stats,
        "drift": None,
    }
    if challenger is not None and windows:
        try:
            reference = load_reference(settings, challenger)
            threshold, share = m.drift_share_threshold, m.input_issue_share
            summaries = [window_summary(reference, w, threshold, share) for w in windows]
            current = summaries[-1]
            status = "drift" if current["drift_detected"] else "ok"
            out["drift"] = {"status": status, "window_size": size, "windows": summaries, "current": current}
        except NoReferenceError as exc:
            log.warning("challenger drift not computed: %s", exc)
    return out
