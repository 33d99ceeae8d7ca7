"""What one training run records in MLflow: params, metrics, datasets, plot, schema and the model.

Called inside an active run by ``register``, which binds MLflow's process-wide URI to the store
first (``genaiops.tracking.MlflowStore.bind_process``: ``mlflow.sklearn.log_model`` reads nothing
else). The model is saved with skops (no pickle); the only types trusted on load are the
numpy/sklearn/scipy ones the pipeline actually contains.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from classic_ml.candidate import Candidate
from classic_ml.preprocess import feature_frame
from classic_ml.schema import SCHEMA_FILE

log = logging.getLogger(__name__)

REFERENCE_FILE = "reference.parquet"
REFERENCE_ROWS = 5000
TRUSTED_MODULES = ("numpy", "sklearn", "scipy")


def _params(candidate: Candidate) -> dict[str, Any]:
    config = candidate.config
    params: dict[str, Any] = {
        "dataset": config.dataset,
        "target": config.target,
        "task": candidate.schema.task,
        "estimator": config.estimator.import_path,
        "holdout_fraction": config.holdout_fraction,
        "seed": config.seed,
        "cv_folds": candidate.cv_folds,
        "n_train": len(candidate.train_df),
        "n_holdout": len(candidate.holdout),
        "n_features": len(candidate.schema.fields),
        "features": ",".join(candidate.schema.feature_names)[:500],
        "gate_metric": config.gate.metric,
        "gate_min_improvement": config.gate.min_improvement,
    }
    params.update({f"estimator.{k}": v for k, v in config.estimator.params.items()})
    return params


def trusted_types(pipeline: Any) -> list[str]:
    """Types skops must trust to load this pipeline; anything outside numpy/sklearn/scipy is refused."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
    foreign = [t for t in untrusted if t.split(".")[0] not in TRUSTED_MODULES]
    if foreign:
        raise ValueError(f"the pipeline contains types skops cannot vouch for: {foreign}")
    return list(untrusted)


def _log_datasets(candidate: Candidate) -> None:
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    target = candidate.config.target
    for frame, context in ((candidate.train_df, "training"), (candidate.holdout, "holdout")):
        # "source can be interpreted in multiple ways" (from_pandas), integer-column hints (the schema,
        # computed lazily by log_input): about MLflow's pyfunc signatures, not this dataset record
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            source = {"source": candidate.dataset_source} if candidate.dataset_source else {}
            dataset = from_pandas(frame, targets=target, name=f"{candidate.config.name}-{context}", **source)
            mlflow.log_input(dataset, context=context)
        mlflow.set_tag(f"dataset.{context}.digest", dataset.digest)


def _extra_files(candidate: Candidate, folder: Path) -> list[str]:
    """The feature schema and a reference sample (for drift monitoring) saved inside the model."""
    schema_path = candidate.schema.save(folder / SCHEMA_FILE)
    columns = [*candidate.schema.feature_names, candidate.config.target]
    reference = candidate.train_df[columns]
    if len(reference) > REFERENCE_ROWS:
        reference = reference.sample(REFERENCE_ROWS, random_state=candidate.config.seed)
    reference_path = folder / REFERENCE_FILE
    reference.to_parquet(reference_path, index=False)
    return [str(schema_path), str(reference_path)]


def _log_model(candidate: Candidate, registered_name: str, extra_files: list[str]) -> Any:
    import mlflow.sklearn
    import sklearn
    import skops
    from mlflow.models import infer_signature

    X = feature_frame(candidate.train_df, candidate.schema)
    complete = X.dropna()
    example = (complete if len(complete) else X).head(3)
    signature = infer_signature(X, candidate.pipeline.predict(X))
    return mlflow.sklearn.log_model(
        candidate.pipeline,
        name="model",
        signature=signature,
        input_example=example,
        registered_model_name=registered_name,
        pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}"],
        skops_trusted_types=trusted_types(candidate.pipeline),
        extra_files=extra_files,
        metadata={"task": candidate.schema.task, "target": candidate.config.target},
    )


def log_candidate(candidate: Candidate, registered_name: str) -> Any:
    """Log everything about ``candidate`` to the active run and register its model; returns MLflow's ModelInfo."""
    import matplotlib.pyplot as plt
    import mlflow

    mlflow.log_params(_params(candidate))
    invalid = len(candidate.report.bad_rows)
    mlflow.log_metrics({**candidate.cv_metrics, **candidate.evaluation.metrics, "invalid_rows": invalid})
    _log_datasets(candidate)
    mlflow.log_figure(candidate.evaluation.figure, f"plots/{candidate.evaluation.figure_name}")
    plt.close(candidate.evaluation.figure)  # type: ignore[arg-type]
    mlflow.log_dict(candidate.schema.model_dump(mode="json"), f"schema/{SCHEMA_FILE}")
    mlflow.log_dict(json.loads(candidate.config.model_dump_json()), "config/training_config.json")
    if invalid:
        issues = candidate.report.issues.astype(str)
        mlflow.log_text(issues.to_csv(index=False), "validation/invalid_rows.csv")
    with tempfile.TemporaryDirectory(prefix="classic-extra-") as tmp:
        info = _log_model(candidate, registered_name, _extra_files(candidate, Path(tmp)))
    return info


def reference_frame(model_dir: Path) -> pd.DataFrame | None:
    """The reference sample saved with a model (monitoring compares live inputs with it)."""
    path = Path(model_dir) / "extra_files" / REFERENCE_FILE
    return pd.read_parquet(path) if path.is_file() else None
