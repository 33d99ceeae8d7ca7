"""Which registry version a release promotes, read from the configured store whatever MLflow points at."""

from __future__ import annotations

from pathlib import Path

import mlflow

from eval.release import prompt_digest, release_prompt_version
from prompts.loader import load_prompt_file
from prompts.registry import push
from tests.settings import make_settings


def test_a_registry_release_is_read_from_the_configured_store(tmp_path: Path) -> None:
    """A fresh `genaiops release promote` process has set no MLflow URI yet: the version must still be
    looked up in the settings' registry, not in MLflow's default store (here: some other store)."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = make_settings(tmp_path / "var", mlflow={"tracking_uri": store})
    [pushed] = [r for r in push(settings) if r.name == "rag_answer"]
    params = {
        "prompt_name": "rag_answer",
        "prompt_source": "registry",
        "prompt_version": str(pushed.version),
        "prompt_digest": prompt_digest(load_prompt_file("rag_answer")),
    }
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")  # what some other code in the process did
    mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert release_prompt_version(settings, params) == ("rag_answer", int(pushed.version))
