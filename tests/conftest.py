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


@pytest.fixture(scope="session", autouse=True)
def mlflow_schema_from_a_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A new sqlite MLflow store gets the schema of one migrated for real, in milliseconds instead of ~1 s.

    Hundreds of tests each open a fresh store in their tmp dir, and MLflow runs its whole Alembic history on
    each one. The first store of the session is migrated by MLflow itself; every later empty sqlite store gets
    that store's dump (tables, indexes, ``alembic_version``), which is what the migrations would have written.
    Other databases (PostgreSQL) and stores opened by subprocesses (the CLI, ``mlflow server``) migrate as usual.
    """
    import sqlite3

    import mlflow.store.db.utils as db_utils
    import mlflow.store.model_registry.sqlalchemy_store as registry_store
    import sqlalchemy

    migrate = db_utils._initialize_tables
    template = tmp_path_factory.mktemp("mlflow-schema") / "mlflow.db"
    migrate(sqlalchemy.create_engine(f"sqlite:///{template}"))
    with sqlite3.connect(template) as connection:
        script = "\n".join(connection.iterdump())

    def initialize(engine: sqlalchemy.engine.Engine) -> None:
        if engine.url.get_backend_name() != "sqlite" or not db_utils._is_empty_database(engine):
            migrate(engine)
            return
        raw = engine.raw_connection()
        try:
            raw.driver_connection.executescript(script)  # type: ignore[union-attr]
        finally:
            raw.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db_utils, "_initialize_tables", initialize)
        patch.setattr(registry_store, "_initialize_tables", initialize)
        yield
