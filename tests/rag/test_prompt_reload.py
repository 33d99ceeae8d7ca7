"""Promote a prompt in the registry -> ``POST /admin/reload/rag`` -> ``/ask`` answers with it, and says so.

Real API (``create_app``), real MLflow (sqlite in a tmp dir), the session's course index, and a
``FakeChatModel`` that records what it was given: the trace of the answer, and the model's own record of
the call, show the promoted text is what the model was given, not only its label.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from genaiops.settings import Settings
from prompts.loader import TEMPLATES_DIR, load_prompt_file
from prompts.registry import promote, push
from rag.fake_llm import FakeChatModel
from rag.retrieval import HybridRetriever
from rag.service import build_rag_service
from tests.rag.helpers import FR_QUESTION, OUT_OF_SCOPE, answer_settings
from tests.settings import llm_cache_dir

KEY = "admin-key-for-reload"
NEW_RULE = "Answer in one single short sentence."


@pytest.mark.slow
def test_a_promoted_prompt_is_served_after_reload(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, course_index: tuple[Settings, HybridRetriever]
) -> None:
    course, _ = course_index
    settings = answer_settings(tmp_path / "var", llm_cache_dir(tmp_path_factory), api={"admin_api_key": KEY})
    settings.rag.chroma_dir = course.rag.chroma_dir  # read-only use of the session's index
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    assert [r.version for r in push(settings, templates)] == [1]  # v1: the committed file
    path = templates / "rag_answer.yaml"
    path.write_text(path.read_text().replace("Rules:\n", f"Rules:\n    0. {NEW_RULE}\n"))
    assert [r.version for r in push(settings, templates)] == [2]  # v2: a changed wording, not promoted yet

    fake = FakeChatModel()
    service = build_rag_service(settings, chat_model=fake)
    with TestClient(create_app(settings, load_classic=False, rag_service=service)) as client:
        before = client.post("/ask", json={"question": OUT_OF_SCOPE}).json()
        file_version = load_prompt_file("rag_answer").version
        assert before["prompt"] == {"name": "rag_answer", "version": file_version}  # no alias yet: the file

        promote(settings, "rag_answer", 2, "production")
        assert client.post("/admin/reload/rag").status_code == 401
        reloaded = client.post("/admin/reload/rag", headers={"X-API-Key": KEY})
        assert reloaded.status_code == 200, reloaded.text
        body = reloaded.json()
        assert body["prompt"] == {"name": "rag_answer", "version": "2", "source": "registry"}
        assert body["previous"]["source"] == "file" and body["changed"] is True and body["chunks"] > 0

        answer = client.post("/ask", json={"question": FR_QUESTION}).json()
        assert answer["prompt"] == {"name": "rag_answer", "version": "2"}
        service = client.app.state.rag  # type: ignore[attr-defined]
        assert NEW_RULE in service.system_prompt() and NEW_RULE in fake.calls[-1].messages[0][1]
        assert service.tracer.flush(timeout_s=120)

        unchanged = client.post("/admin/reload/rag", headers={"X-API-Key": KEY}).json()
        assert unchanged["changed"] is False

    from tests.rag.test_tracing import spans_by_name, traces

    by_id = {t.info.tags["request_id"]: t for t in traces(settings)}
    generate = spans_by_name(by_id[answer["request_id"]])["generate"]
    assert NEW_RULE in generate.inputs["messages"][0]["content"]  # the model was given v2's words
    assert spans_by_name(by_id[answer["request_id"]])["rag.ask"].attributes["prompt"]["source"] == "registry"
