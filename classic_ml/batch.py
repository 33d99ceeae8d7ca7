"""Batch scoring of a CSV/Parquet file with the champion (``genaiops predict FILE.csv``).

Reads in chunks so memory stays flat on big files, scores each chunk with the same ``Scorer`` as
the API, and appends the input columns plus prediction, probabilities, unknown categories and
issues to the output CSV. Nothing is written to the prediction log (that log is for live traffic).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from classic_ml.config import ConfigError
from classic_ml.registry import TRAIN_COMMAND, LoadedModel, load_for_serving
from classic_ml.scoring import Scorer
from genaiops.settings import Settings


@dataclass
class BatchSummary:
    rows: int
    seconds: float
    out: Path
    model: str
    rows_with_unknown: int
    rows_with_issues: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def count_rows(path: Path) -> int | None:
    """Data rows of a CSV (lines minus the header), for the progress bar; None for other formats."""
    if path.suffix.lower() != ".csv":
        return None
    with path.open("rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return max(lines - 1, 0)


def read_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if not path.is_file():
        raise ConfigError(f"input file not found: {path}")
    if path.suffix.lower() in {".parquet", ".pq"}:
        df = pd.read_parquet(path)
        for start in range(0, len(df), chunk_rows):
            yield df.iloc[start : start + chunk_rows]
        return
    yield from pd.read_csv(path, chunksize=chunk_rows)


def score_file(
    model: LoadedModel,
    path: Path,
    out: Path,
    *,
    chunk_rows: int = 50_000,
    on_chunk: Callable[[int], None] | None = None,
) -> BatchSummary:
    """Score ``path`` into ``out`` chunk by chunk; ``on_chunk(rows)`` reports progress."""
    scorer = Scorer(model)
    started = time.perf_counter()
    rows = unknown = issues = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    for i, chunk in enumerate(read_chunks(path, chunk_rows)):
        missing = [c for c in model.schema.feature_names if c not in chunk.columns]
        if missing:
            raise ConfigError(f"{path} lacks column(s) {missing} that model {model.name} v{model.version} needs")
        scored = scorer.predict_frame(chunk)
        pd.concat([chunk, scored], axis=1).to_csv(out, mode="w" if i == 0 else "a", header=i == 0, index=False)
        rows += len(chunk)
        unknown += int((scored["unknown_categories"] != "").sum())
        issues += int((scored["issues"] != "").sum())
        if on_chunk is not None:
            on_chunk(len(chunk))
    if rows == 0:
        raise ConfigError(f"{path} has no rows to score")
    label = f"{model.name} v{model.version} ({model.source})"
    return BatchSummary(rows, time.perf_counter() - started, out, label, unknown, issues)


def load_model_for_batch(settings: Settings) -> LoadedModel:
    model = load_for_serving(settings)
    if model is None:
        raise ConfigError(f"no classic model to score with: {TRAIN_COMMAND}")
    return model


def default_out(path: Path) -> Path:
    return path.with_name(f"{path.stem}.predictions.csv")
