"""Loading the training data and cutting the holdout.

The holdout is cut once, with the config's seed, stratified for classification, so the
champion and the challenger are scored on exactly the same rows.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from classic_ml.config import ConfigError, TrainingConfig

log = logging.getLogger(__name__)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame; a missing or unreadable file is a ``ConfigError``."""
    if not path.is_file():
        raise ConfigError(f"dataset not found: {path}")
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot read dataset {path}: {exc}") from exc


def load_dataset(config: TrainingConfig, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """The configured dataset (or ``data`` given in its place), checked for the needed columns."""
    df = read_table(config.dataset_path()) if data is None else data.copy()
    needed = [config.target, *(config.features or {})]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ConfigError(f"dataset {config.dataset!r} lacks column(s) {missing}; it has {list(df.columns)}")
    if df.empty:
        raise ConfigError(f"dataset {config.dataset!r} has no rows")
    return df.reset_index(drop=True)


def split_holdout(df: pd.DataFrame, config: TrainingConfig, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train / holdout split; stratified on the target for classification when every class allows it."""
    stratify = None
    if task == "classification":
        counts = df[config.target].value_counts()
        if counts.min() >= 2:
            stratify = df[config.target]
        else:
            log.warning("not stratifying the holdout: class(es) %s have a single row", list(counts[counts < 2].index))
    train, holdout = train_test_split(
        df, test_size=config.holdout_fraction, random_state=config.seed, stratify=stratify
    )
    return train.reset_index(drop=True), holdout.reset_index(drop=True)
