"""The tracking-store adapter: one place that points MLflow at the configured backend.

sqlite file by default, an MLflow server URL (or a Postgres URL) in production; the same code
path either way. Callers get a client or an experiment id, never touch global state at import.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from genaiops.settings import Settings

log = logging.getLogger(__name__)


def apply_http_limits(settings: Settings) -> None:
    """Bound every MLflow server request by the settings' timeout and retries.

    MLflow reads these from its environment variables at each request, so this is the one place
    that sets them; without it a stopped server costs minutes of retries per call (7 retries,
    backoff factor 2, 120 s timeout), long enough to hang an API start-up or a monitoring page.
    """
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    limits = settings.mlflow
    MLFLOW_HTTP_REQUEST_TIMEOUT.set(limits.http_timeout_s)
    MLFLOW_HTTP_REQUEST_MAX_RETRIES.set(limits.http_max_retries)
    MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.set(limits.http_backoff_factor)


def configure_mlflow(settings: Settings) -> str:
    """Point the mlflow module at ``settings.mlflow.tracking_uri`` (registry too) and return it."""
    import mlflow

    apply_http_limits(settings)
    uri = settings.mlflow.tracking_uri or ""
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def ensure_experiment(settings: Settings, name: str) -> str:
    """Id of experiment ``name``, created with the configured artifact location if missing."""
    import mlflow

    configure_mlflow(settings)
    client = mlflow.MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    artifact_root = settings.mlflow.artifact_location
    location = f"{artifact_root.rstrip('/')}/{name}" if artifact_root else None
    return client.create_experiment(name, artifact_location=location)


@lru_cache(maxsize=8)
def _client(uri: str):  # type: ignore[no-untyped-def]
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def mlflow_client(settings: Settings):  # type: ignore[no-untyped-def]
    """A client bound to the configured store (cached per URI), its requests bounded by the settings."""
    apply_http_limits(settings)
    return _client(settings.mlflow.tracking_uri or "")


def store_missing(settings: Settings) -> bool:
    """A sqlite tracking store whose file is not there yet: it holds nothing, and asking would create it."""
    uri = settings.mlflow.tracking_uri or ""
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file()


def tracking_reachable(settings: Settings, timeout_s: float = 2.0) -> bool:
    """Quick probe so a down MLflow server costs seconds, not MLflow's minutes of retries.

    Only server URIs are probed; a sqlite or database URI is local to this process's reach.
    """
    uri = settings.mlflow.tracking_uri or ""
    if not uri.startswith(("http://", "https://")):
        return True
    import httpx

    try:
        return httpx.get(f"{uri.rstrip('/')}/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False
