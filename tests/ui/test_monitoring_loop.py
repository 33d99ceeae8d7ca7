"""The Monitoring page closes the loop (issue 15): input issues, the shadow challenger and the prompt canary, drawn
by Streamlit's AppTest from a real API (uvicorn) on a real registry (a champion and a challenger in shadow) and a
real ask log. Neither the RAG side nor an LLM is loaded: the page only reads the monitors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from genaiops.settings import Settings
from tests.classic_ml.helpers import RECORD, shadow_registry, sharing_registry
from tests.classic_ml.test_drift import records, reference_sample
from tests.rag.test_canary import _traffic, register_candidate
from tests.ui.helpers import ServerThread, free_port
from tests.ui.test_pages import assert_no_traceback, run_page, texts

pytestmark = pytest.mark.slow


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    registry, _ = shadow_registry(tmp_path_factory)
    settings = sharing_registry(registry, tmp_path / "var")
    server = ServerThread(create_app(settings, load_rag=False), free_port())
    server.start()
    try:
        yield f"http://127.0.0.1:{server.server.config.port}", settings
    finally:
        server.stop()


def test_the_page_shows_input_issues_the_shadow_challenger_and_the_canary(api, tmp_path: Path, ui_env) -> None:  # type: ignore[no-untyped-def]
    url, settings = api
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.post("/predict", json=records(reference_sample(seed=4, rows=20))).status_code == 200
        odd = [{**RECORD, "island": f"Atlant\x07is {i}"} for i in range(5)] + records(reference_sample(seed=6, rows=5))
        assert client.post("/predict", json=odd).status_code == 200
    register_candidate(settings, tmp_path)
    _traffic(settings, "1", 40, 4)
    _traffic(settings, "2", 40, 24)

    ui_env(url)
    at = run_page("monitoring", timeout=120)
    by_label = {w.label: w for w in at.sidebar.number_input}
    by_label["Predictions per window"].set_value(10)
    by_label["Questions per window"].set_value(10)
    at.run()
    assert_no_traceback(at)
    assert not texts(at, "error")
    assert any("Input issues in the current window" in w and "island" in w for w in texts(at, "warning"))
    assert "Shadow challenger" in texts(at, "subheader")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Records scored in shadow"] == "30" and metrics["Dropped (queue full)"] == "0"
    assert metrics["Agreement with the champion"].endswith("%")
    markdown = texts(at, "markdown")
    assert any(m.startswith("Challenger v2 vs champion v1") for m in markdown)
    assert "**Recent asks by prompt version**" in markdown
    canary = [m for m in markdown if m.startswith("Canary rag_answer@2")]
    assert canary and ":red-badge[worse]" in canary[0]
