"""Integration fixtures: a real MLflow server and a real Chroma server on free 127.0.0.1 ports, once per module.

The settings reach the code the way they reach the compose containers: as ``GENAIOPS_`` environment
variables (``stack_env``), read by the CLI's own ``get_settings()`` and by the API's. The working
directory is a tmp folder, so a developer's ``.env`` never leaks in. The servers are the point here, not the
model: every chat model built is a ``FakeChatModel`` (the real one answers through the whole stack in
tests/ui/test_e2e_browser.py and in `make eval-gate`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from genaiops.settings import Settings, get_settings
from rag.fake_llm import FakeChatModel
from tests.integration.servers import ServerProcess, chroma_server, mlflow_server
from tests.settings import llm_cache_dir

MAX_TOKENS = 32  # the cap the stack runs with here (the fake model quotes one shorter line)
TOP_K = 2
ADMIN_KEY = "integration-admin-key"


@dataclass
class Stack:
    mlflow: ServerProcess
    chroma: ServerProcess
    mlflow_root: Path
    chroma_root: Path


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Both servers started together (MLflow's database migration takes most of the ~10 s)."""
    root = tmp_path_factory.mktemp("servers")
    stack = Stack(mlflow_server(root / "mlflow"), chroma_server(root / "chroma"), root / "mlflow", root / "chroma")
    stack.mlflow.start()
    stack.chroma.start()
    try:
        stack.chroma.wait_healthy()
        stack.mlflow.wait_healthy()
        yield stack
    finally:
        stack.mlflow.stop()
        stack.chroma.stop()


@pytest.fixture(scope="module")
def stack_env(servers: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The environment of a compose ``api`` container, pointed at the loopback servers; yields its settings."""
    work = tmp_path_factory.mktemp("work")
    env = {
        "GENAIOPS_ENV": "test",
        "GENAIOPS_DATA_DIR": str(work / "var"),
        "GENAIOPS_MLFLOW__TRACKING_URI": servers.mlflow.url,
        "GENAIOPS_RAG__CHROMA_HOST": "127.0.0.1",
        "GENAIOPS_RAG__CHROMA_PORT": str(servers.chroma.port),
        "GENAIOPS_RAG__TOP_K": str(TOP_K),
        "GENAIOPS_LLM__MAX_TOKENS": str(MAX_TOKENS),
        "GENAIOPS_LLM__MODEL_CACHE_DIR": str(llm_cache_dir(tmp_path_factory)),
        "GENAIOPS_API__ADMIN_API_KEY": ADMIN_KEY,
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        mp.setattr("rag.llm.build_chat_model", lambda _settings: FakeChatModel())
        for name, value in env.items():
            mp.setenv(name, value)
        settings = get_settings()
        settings.ensure_dirs()
        yield settings
