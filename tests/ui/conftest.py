"""UI fixtures: a real API (``create_app``) served by uvicorn on a free port, over a real index, with a fake model.

``prepared`` ingests the course and trains the classic model once per session (real Chroma, real
MLflow, under a session tmp dir; the GGUF from the session's one model cache, ``llm_cache_dir``, so the
491 MB model is assembled and hashed once per session, not again for the UI). ``live_api`` serves the full app in a
background thread; ``bare_api`` serves the same app with neither side loaded (503s), cheap to start.
``dead_url`` is a port nothing listens on (``silent_url``, a port that never answers, is in tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from genaiops.settings import Settings
from tests.settings import llm_cache_dir
from tests.ui.helpers import LiveApi, ServerThread, free_port, sides_available, ui_settings


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a data dir holding the ingested course and a trained champion (once per session)."""
    if not sides_available():
        pytest.skip("rag.service / classic_ml.serving are not there yet: nothing to ingest or train")
    from classic_ml.pipeline import run_training
    from rag.ingest import ingest

    settings = ui_settings(tmp_path_factory.mktemp("ui") / "var", llm_cache_dir(tmp_path_factory))
    report = ingest(settings, progress=False)
    assert report.files_indexed > 0, report
    result = run_training(settings)
    assert result.promoted, "the first model of an empty registry must become the champion"
    return settings


@pytest.fixture(scope="session")
def live_api(prepared: Settings) -> Iterator[LiveApi]:
    """The full app over the prepared data dir; the RAG answers with a ``FakeChatModel``: the pages are the
    point here, not the model (the browser test, tests/ui/test_e2e_browser.py, runs the real one)."""
    from app.main import create_app
    from rag.fake_llm import FakeChatModel
    from rag.service import build_rag_service

    app = create_app(prepared, rag_service=build_rag_service(prepared, chat_model=FakeChatModel()))
    port = free_port()
    server = ServerThread(app, port)
    server.start()
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", prepared, app)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def bare_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """The real app with no side loaded: every RAG/classic route answers 503 with the reason."""
    from app.main import create_app

    settings = ui_settings(tmp_path_factory.mktemp("bare") / "var", llm_cache_dir(tmp_path_factory))
    app = create_app(settings, load_rag=False, load_classic=False)
    port = free_port()
    server = ServerThread(app, port)
    server.start()
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", settings, app)
    finally:
        server.stop()


@pytest.fixture
def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def ui_env(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``ui_env(url, timeout_s=...)`` points the UI (its settings come from the environment) at ``url``."""

    def point(url: str, timeout_s: float | None = None) -> None:
        monkeypatch.setenv("GENAIOPS_API_URL", url)
        if timeout_s is not None:
            monkeypatch.setenv("GENAIOPS_UI__TIMEOUT_S", str(timeout_s))

    return point
