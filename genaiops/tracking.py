"""The MLflow adapter: one ``MlflowStore`` per tracking store, built from the settings, handed to whoever needs it.

It holds the store's URI (tracking, model registry and prompt registry alike: sqlite file by default, an
MLflow server URL in production), a client bound to that URI, the experiments, and the one reachability
probe. Callers never build ``MlflowClient()`` themselves, and nothing else reads or sets MLflow's
process-wide tracking URI: the few MLflow APIs that read nothing else (fluent runs with
``mlflow.start_run`` + ``mlflow.sklearn.log_model`` / ``mlflow.create_external_model``, and the trace
exporter behind ``MlflowClient.start_trace``) are called after ``bind_process()``, the one place that sets
it. So which store a call reads never depends on what ran before it in the process.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from genaiops.settings import MlflowSettings, Settings

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from mlflow.entities import Run, Trace
    from mlflow.tracing.client import TracingClient

log = logging.getLogger(__name__)

StoreState = Literal["ready", "empty", "unreachable"]


@lru_cache(maxsize=8)
def _client(uri: str) -> MlflowClient:
    """One client per store URI: building one opens the store (a sqlite store checks its schema)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


class MlflowStore:
    """One MLflow tracking store, reached only through its explicit URI (see the module docstring)."""

    def __init__(self, settings: MlflowSettings) -> None:
        if not settings.tracking_uri:
            raise ValueError("mlflow.tracking_uri is unset: build the settings with genaiops.settings.get_settings()")
        self.settings = settings
        self.uri: str = settings.tracking_uri

    def __repr__(self) -> str:
        return f"MlflowStore({self.uri!r})"

    # -- the store ------------------------------------------------------------------------------
    @property
    def client(self) -> MlflowClient:
        """A client bound to this store (tracking and registries), its server requests bounded by the settings."""
        self._apply_http_limits()
        return _client(self.uri)

    def tracing_client(self) -> TracingClient:
        """MLflow's trace client on this store (assessments: ``log_assessment``), which ``MlflowClient`` lacks."""
        from mlflow.tracing.client import TracingClient

        self._apply_http_limits()
        return TracingClient(self.uri)

    @property
    def is_server(self) -> bool:
        return self.uri.startswith(("http://", "https://"))

    def missing(self) -> bool:
        """A sqlite store whose file is not there yet: it holds nothing, and asking would create it."""
        return self.uri.startswith("sqlite:///") and not Path(self.uri.removeprefix("sqlite:///")).is_file()

    def reachable(self, timeout_s: float = 2.0) -> bool:
        """Quick probe so a down MLflow server costs seconds, not MLflow's minutes of retries.

        Only server URIs are probed; a sqlite or database URI is local to this process's reach.
        """
        if not self.is_server:
            return True
        import httpx

        try:
            return httpx.get(f"{self.uri.rstrip('/')}/health", timeout=timeout_s).status_code == 200
        except httpx.HTTPError:
            return False

    def state(self, timeout_s: float = 1.0) -> StoreState:
        """'empty' (a sqlite store not created yet: nothing in it), 'unreachable' (server down) or 'ready'."""
        if self.missing():
            return "empty"
        return "ready" if self.reachable(timeout_s) else "unreachable"

    # -- experiments, runs, traces --------------------------------------------------------------
    def find_experiment(self, name: str) -> str | None:
        """The id of experiment ``name``, or None when it does not exist (nothing is created)."""
        found = self.client.get_experiment_by_name(name)
        return None if found is None else str(found.experiment_id)

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created with the configured artifact location if missing."""
        found = self.find_experiment(name)
        if found is not None:
            return found
        root = self.settings.artifact_location
        location = f"{root.rstrip('/')}/{name}" if root else None
        return str(self.client.create_experiment(name, artifact_location=location))

    def runs(self, experiment: str, *, limit: int, filter_string: str = "") -> list[Run]:
        """The newest runs of experiment ``experiment`` (by name), newest first; [] when it does not exist."""
        experiment_id = self.find_experiment(experiment)
        if experiment_id is None:
            return []
        return list(
            self.client.search_runs(
                [experiment_id], filter_string=filter_string, order_by=["attributes.start_time DESC"], max_results=limit
            )
        )

    def search_traces(
        self, experiment_id: str, filter_string: str, *, limit: int, include_spans: bool = True
    ) -> list[Trace]:
        """Traces of one experiment matching ``filter_string``, newest first, at most ``limit`` (page by page)."""
        found: list[Trace] = []
        token = None
        while len(found) < limit:
            page = self.client.search_traces(
                locations=[experiment_id],
                filter_string=filter_string,
                max_results=min(limit - len(found), 500),
                order_by=["timestamp_ms DESC"],
                page_token=token,
                include_spans=include_spans,
            )
            found.extend(page)
            token = page.token
            if not token or not page:
                break
        return found

    # -- the process-wide URI: the one place ----------------------------------------------------
    def bind_process(self) -> None:
        """Point MLflow's process-wide tracking and registry URIs at this store.

        Only for the MLflow APIs that read nothing else: fluent runs (``mlflow.start_run`` with
        ``mlflow.sklearn.log_model``, ``mlflow.log_table``, ``mlflow.create_external_model``) and the
        trace exporter that ``MlflowClient.start_trace`` feeds. MLflow exports it as ``MLFLOW_TRACKING_URI``
        for child processes; ``genaiops.settings`` never reads that back (it keeps the value the process
        started with).
        """
        import mlflow

        self._apply_http_limits()
        mlflow.set_tracking_uri(self.uri)  # a no-op when unchanged (a change resets MLflow's trace exporter)
        mlflow.set_registry_uri(self.uri)

    def is_bound(self) -> bool:
        """Whether MLflow's process-wide URI still points here (another store may have been bound since)."""
        import mlflow

        return mlflow.get_tracking_uri() == self.uri

    def _apply_http_limits(self) -> None:
        """Bound every MLflow server request by the settings' timeout and retries.

        MLflow reads these from its environment variables at each request; without them a stopped server
        costs minutes of retries per call (7 retries, backoff factor 2, 120 s timeout), long enough to hang
        an API start-up or a monitoring page.
        """
        from mlflow.environment_variables import (
            MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
            MLFLOW_HTTP_REQUEST_MAX_RETRIES,
            MLFLOW_HTTP_REQUEST_TIMEOUT,
        )

        MLFLOW_HTTP_REQUEST_TIMEOUT.set(self.settings.http_timeout_s)
        MLFLOW_HTTP_REQUEST_MAX_RETRIES.set(self.settings.http_max_retries)
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.set(self.settings.http_backoff_factor)


def mlflow_store(settings: Settings) -> MlflowStore:
    """The adapter of ``settings``' tracking store (cheap: the client under it is shared per URI)."""
    return MlflowStore(settings.mlflow)
