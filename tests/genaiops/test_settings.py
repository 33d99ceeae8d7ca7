"""The one settings tree: environment names, derived paths, the UI's API URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from genaiops.settings import Settings


def test_nested_sections_come_from_prefixed_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAIOPS_LLM__BACKEND", "ollama")
    monkeypatch.setenv("GENAIOPS_RAG__TOP_K", "7")
    s = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert (s.llm.backend, s.rag.top_k) == ("ollama", 7)
    assert s.database_url == f"sqlite:///{tmp_path.resolve() / 'genaiops.db'}"
    assert s.rag.chroma_dir == tmp_path.resolve() / "chroma"


@pytest.mark.parametrize("name", ["GENAIOPS_API_URL", "GENAIOPS_UI__API_URL"])
def test_the_ui_api_url_has_a_short_name(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, "http://api.internal:8000")
    s = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert s.ui.api_url == "http://api.internal:8000"


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("GENAIOPS_API_URL=http://from-dotenv:9000\nGENAIOPS_CLASSIC__MAX_BATCH=12\n", encoding="utf-8")
    s = Settings(_env_file=env, data_dir=tmp_path)  # type: ignore[call-arg]
    assert (s.ui.api_url, s.classic.max_batch) == ("http://from-dotenv:9000", 12)


def test_invalid_values_name_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAIOPS_RAG__TOP_K", "0")
    with pytest.raises(ValueError, match="top_k"):
        Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
