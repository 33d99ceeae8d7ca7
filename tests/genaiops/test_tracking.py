"""The MLflow adapter: every read and write goes to the store the settings name, whatever ran before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import genaiops.settings
from genaiops.settings import REPO_ROOT, Settings
from genaiops.tracking import MlflowStore, mlflow_store
from tests.settings import make_settings


def test_settings_never_read_back_the_uri_mlflow_exports(tmp_path: Path) -> None:
    """``mlflow.set_tracking_uri`` exports MLFLOW_TRACKING_URI; settings built after it keep their own store."""
    first = make_settings(tmp_path / "a")
    mlflow_store(first).bind_process()
    assert os.environ["MLFLOW_TRACKING_URI"] == first.mlflow.tracking_uri
    second = Settings(_env_file=None, data_dir=tmp_path / "b")  # type: ignore[call-arg]
    assert second.mlflow.tracking_uri == f"sqlite:///{(tmp_path / 'b').resolve() / 'mlflow.db'}"


def test_the_users_mlflow_uri_from_process_start_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(genaiops.settings, "STARTUP_MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert Settings(_env_file=None, data_dir=tmp_path).mlflow.tracking_uri == "http://mlflow.internal:5000"  # type: ignore[call-arg]
    monkeypatch.setenv("GENAIOPS_MLFLOW__TRACKING_URI", "http://ours:5000")  # genaiops' own setting wins
    assert Settings(_env_file=None, data_dir=tmp_path).mlflow.tracking_uri == "http://ours:5000"  # type: ignore[call-arg]


def test_a_process_keeps_the_mlflow_uri_it_started_with(tmp_path: Path) -> None:
    """In a fresh process: MLFLOW_TRACKING_URI as started is used, even after a store was bound."""
    script = (
        "import json, sys\n"
        "from genaiops.settings import get_settings\n"
        "from genaiops.tracking import mlflow_store\n"
        "before = get_settings(data_dir=sys.argv[1]).mlflow.tracking_uri\n"
        "mlflow_store(get_settings(data_dir=sys.argv[1], mlflow={'tracking_uri': sys.argv[2]})).bind_process()\n"
        "print(json.dumps([before, get_settings(data_dir=sys.argv[1]).mlflow.tracking_uri]))\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": "http://users-mlflow:5000", "PYTHONPATH": str(REPO_ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("GENAIOPS_")}
    other = f"sqlite:///{tmp_path / 'other.db'}"
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), other], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["http://users-mlflow:5000", "http://users-mlflow:5000"]


def test_reads_and_writes_go_to_the_configured_store_whatever_was_bound_before(tmp_path: Path) -> None:
    """The ``release promote`` bug of f661ad1: call order decided which store was read. Not any more."""
    from prompts.catalog import catalog
    from prompts.registry import list_prompts, promote, push, resolve_registered

    ours, elsewhere = make_settings(tmp_path / "ours"), make_settings(tmp_path / "elsewhere")
    mlflow_store(elsewhere).bind_process()
    [pushed] = [r for r in push(ours) if r.name == "rag_answer"]
    promote(ours, "rag_answer", int(pushed.version), "production")
    found = resolve_registered(ours, "rag_answer").prompt
    assert found is not None and found.source == "registry" and found.version == str(pushed.version)
    assert [p["name"] for p in list_prompts(ours)] == ["rag_answer"]
    assert catalog(ours)[0]["source"] == "registry"
    assert mlflow_store(elsewhere).missing()  # nothing was written to the bound store


def test_state_says_empty_unreachable_or_ready_without_creating_a_store(tmp_path: Path, silent_url: str) -> None:
    settings = make_settings(tmp_path)
    store = mlflow_store(settings)
    assert store.state() == "empty" and store.missing()
    assert store.state() == "empty", "asking must not create the sqlite file"
    store.experiment_id("probe")
    assert store.state() == "ready" and store.find_experiment("probe") == store.experiment_id("probe")
    assert store.runs("no-such-experiment", limit=5) == []
    down = MlflowStore(settings.mlflow.model_copy(update={"tracking_uri": silent_url}))
    assert down.is_server and down.state(timeout_s=0.5) == "unreachable"
