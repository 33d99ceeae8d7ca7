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
# Tests never write to a user's MLflow: genaiops.settings reads MLflow's variable once, at import (below).
os.environ.pop("MLFLOW_TRACKING_URI", None)

from genaiops.settings import REPO_ROOT, Settings  # noqa: E402
from tests.settings import make_settings  # noqa: E402

COURSE_DIR = REPO_ROOT / "data" / "course"
# Fixtures that load the real model (tests/rag/conftest.py): a test using one is in the model tier, whatever
# its own marks say, so `pytest -m "not llm"` never assembles, hashes or runs the GGUF.
MODEL_FIXTURES = frozenset({"chat_model", "gguf_path"})
# Fixtures that start live servers over a trained model and an ingested course (tests/ui/conftest.py): slow tier.
LIVE_FIXTURES = frozenset({"prepared", "live_api", "bare_api"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if MODEL_FIXTURES & used:
            item.add_marker(pytest.mark.llm)
        if (MODEL_FIXTURES | LIVE_FIXTURES) & used:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose every piece of state lives in this test's tmp dir."""
    return make_settings(tmp_path / "var")


@pytest.fixture
def silent_url() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that accepts connections and never answers: a hung peer."""
    from tests.net import silent_server

    with silent_server() as url:
        yield url


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
