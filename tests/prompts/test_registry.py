"""Prompt registry against a real MLflow (sqlite in a tmp dir)."""

from __future__ import annotations

from pathlib import Path

import pytest

from genaiops.settings import Settings
from prompts.catalog import version_diff
from prompts.loader import PromptTemplate
from prompts.registry import from_mlflow_text, list_prompts, load_registered, promote, push, to_mlflow_text
from tests.prompts.conftest import EDIT


def test_slot_syntax_round_trips() -> None:
    text = "Answer in {language} about {question}; keep {{braces}} literal."
    assert to_mlflow_text(text) == "Answer in {{language}} about {{question}}; keep {braces} literal."
    assert from_mlflow_text(to_mlflow_text(text)) == text


def test_push_is_idempotent_and_versions_changes(settings: Settings, templates: Path) -> None:
    first = push(settings, templates)
    assert [(r.name, r.status, r.version) for r in first] == [("rag_answer", "registered", 1)]
    again = push(settings, templates)
    assert [(r.status, r.version) for r in again] == [("unchanged", 1)]

    path = templates / "rag_answer.yaml"
    path.write_text(path.read_text().replace(*EDIT))
    changed = push(settings, templates)
    assert [(r.status, r.version) for r in changed] == [("registered", 2)]
    assert EDIT[1] in version_diff(settings, "rag_answer", 1, 2)
    versions = list_prompts(settings)[0]["versions"]
    assert [v["version"] for v in versions] == ["2", "1"]


def test_push_rejects_missing_or_extra_variable(settings: Settings, templates: Path) -> None:
    path = templates / "rag_answer.yaml"
    path.write_text(
        path.read_text().replace(
            "input_variables: [context, question, language, not_covered]",
            "input_variables: [context, question, language, not_covered, tone]",
        )
    )
    results = push(settings, templates)
    assert results[0].status == "invalid"
    assert "tone" in results[0].detail
    assert list_prompts(settings) == []


def test_promote_and_load_by_alias(settings: Settings, templates: Path) -> None:
    push(settings, templates)
    assert load_registered(settings, "rag_answer") is None  # no production alias yet -> file fallback
    promote(settings, "rag_answer", 1, "production")
    loaded = load_registered(settings, "rag_answer")
    assert isinstance(loaded, PromptTemplate)
    assert loaded.version == "1"
    file_prompt = PromptTemplate(**{**loaded.model_dump(), "version": "x"})
    assert loaded.render(context="c", question="q", language="French", not_covered="n").user
    assert file_prompt.template == loaded.template
    assert list_prompts(settings)[0]["versions"][0]["aliases"] == ["production"]


def test_registry_down_falls_back(settings: Settings) -> None:
    down = settings.model_copy(deep=True)
    down.mlflow.tracking_uri = "http://127.0.0.1:9"  # nothing listens on the discard port
    assert load_registered(down, "rag_answer") is None


def test_the_cli_diff_is_the_api_diff_and_errors_are_one_line(
    settings: Settings, templates: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`genaiops prompts diff` prints exactly what GET /prompts/{name}/diff (and the UI) shows."""
    from typer.testing import CliRunner

    from app.cli import app

    push(settings, templates)
    path = templates / "rag_answer.yaml"
    path.write_text(path.read_text().replace(*EDIT))
    push(settings, templates)
    monkeypatch.chdir(templates)  # no developer .env
    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GENAIOPS_MLFLOW__TRACKING_URI", str(settings.mlflow.tracking_uri))
    shown = CliRunner().invoke(app, ["prompts", "diff", "rag_answer", "1", "2"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == version_diff(settings, "rag_answer", 1, 2) + "\n"
    missing = CliRunner().invoke(app, ["prompts", "diff", "rag_answer", "1", "9"])
    assert missing.exit_code == 2 and missing.stderr == "error: rag_answer has no version 9 (versions: 2, 1)\n"
    assert "Traceback" not in missing.output
