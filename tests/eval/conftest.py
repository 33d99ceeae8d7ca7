"""Eval fixtures: the real course index (the RAG tests' session fixtures) and a CLI environment over it.

The eval commands answer with a ``FakeChatModel`` here: these tests are about what the commands log, compare
and promote, not about the model. The real model answers the golden set in `make eval-gate`, the last step of
`make test`, against the committed baseline.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from genaiops.settings import Settings
from rag.fake_llm import FakeChatModel
from tests.rag.conftest import course_index, embedder  # noqa: F401 - session fixtures shared with tests/rag
from tests.rag.helpers import MAX_TOKENS
from tests.settings import llm_cache_dir


@pytest.fixture(scope="module")
def eval_env(tmp_path_factory: pytest.TempPathFactory, course_index) -> Iterator[Settings]:  # type: ignore[no-untyped-def]  # noqa: F811
    """The environment `genaiops` commands read, over the session's index, plus the same Settings.

    State (MLflow, ask log, baseline file) lives in a module tmp dir; the index is only read. Every chat model
    the commands build is a ``FakeChatModel`` quoting the first passage: the same release answers the same way
    twice, so the gate's pass and fail come from what changed (the prompt, ``top_k``), never from timing.
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
        "GENAIOPS_EVAL__CONCURRENCY": "1",  # as `make eval-gate`
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.setattr("rag.llm.build_chat_model", lambda _settings: FakeChatModel())
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        settings.ensure_dirs()
        yield settings
