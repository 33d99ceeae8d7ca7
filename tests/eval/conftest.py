"""Eval fixtures: the real course index (the RAG tests' session fixtures) and a CLI environment over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from genaiops.settings import Settings
from tests.rag.conftest import course_index, embedder  # noqa: F401 - session fixtures shared with tests/rag
from tests.rag.helpers import MAX_TOKENS
from tests.settings import llm_cache_dir


@pytest.fixture(scope="module")
def eval_env(tmp_path_factory: pytest.TempPathFactory, course_index) -> Iterator[Settings]:  # type: ignore[no-untyped-def]  # noqa: F811
    """The environment `genaiops` commands read, over the session's index, plus the same Settings.

    State (MLflow, ask log, baseline file) lives in a module tmp dir; the index is only read. Answers
    are short (``MAX_TOKENS``): the eval measures the pipeline, the tests measure the commands.
    """
    course, _ = course_index
    data = tmp_path_factory.mktemp("eval") / "var"
    env = {
        "GENAIOPS_DATA_DIR": str(data),
        "GENAIOPS_RAG__CHROMA_DIR": str(course.rag.chroma_dir),
        "GENAIOPS_LLM__MODEL_CACHE_DIR": str(llm_cache_dir(tmp_path_factory)),
        "GENAIOPS_LLM__MAX_TOKENS": str(MAX_TOKENS),
        "GENAIOPS_EVAL__BASELINE_PATH": str(data.parent / "baseline.json"),
        "GENAIOPS_MLFLOW__TRACKING_URI": f"sqlite:///{data.resolve() / 'mlflow.db'}",
        # one question at a time, as `make eval-gate`: parallel slots batch differently from run to run, so
        # two evals of the same release only reproduce each other (and pass the gate) when asked in turn
        "GENAIOPS_EVAL__CONCURRENCY": "1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        settings.ensure_dirs()
        yield settings
