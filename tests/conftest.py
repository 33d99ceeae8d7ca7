"""Shared fixtures: real embedded services built in a tmp dir, one settings object per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.pop("MLFLOW_TRACKING_URI", None)  # tests never write to a user's MLflow

from genaiops.settings import REPO_ROOT, Settings  # noqa: E402

COURSE_DIR = REPO_ROOT / "data" / "course"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose every piece of state lives in this test's tmp dir."""
    # mlflow.set_tracking_uri() exports MLFLOW_TRACKING_URI, which Settings honours: clear what an
    # earlier test left so each test gets its own store.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    s = Settings(_env_file=None, env="test", data_dir=tmp_path / "var")  # type: ignore[call-arg]
    s.ensure_dirs()
    return s


@pytest.fixture(autouse=True)
def _forget_mlflow_uri():  # type: ignore[no-untyped-def]
    """Session fixtures built after this test must not inherit the store it exported (see ``settings``)."""
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)


@pytest.fixture
def silent_url() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that accepts connections and never answers: a hung peer."""
    from tests.net import silent_server

    with silent_server() as url:
        yield url


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
