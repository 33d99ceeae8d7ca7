"""``genaiops ingest`` and ``genaiops ask`` as a user runs them: settings from GENAIOPS_* variables, real parts.

In-process through Typer's runner (the console script's own ``app``), from an empty working
directory so no developer ``.env`` is read. User errors exit 2 with one ``error:`` line, no traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from app.cli import app
from prompts import load_prompt_file
from rag.prompting import NOT_COVERED
from tests.rag.helpers import (
    ANSWER_KEYS,
    COURSE_DIR,
    FR_QUESTION,
    FR_SOURCE,
    OUT_OF_SCOPE,
    TEST_MODEL,
    TOP_K,
    closed_port_url,
)
from tests.settings import llm_cache_dir


def env_for(data_dir: Path, llm_cache: Path, **extra: str) -> dict[str, str]:
    return {
        "GENAIOPS_ENV": "test",
        "GENAIOPS_DATA_DIR": str(data_dir),
        "GENAIOPS_LLM__MODEL_CACHE_DIR": str(llm_cache),
        "GENAIOPS_LLM__MAX_TOKENS": "32",
        "GENAIOPS_LLM__MODEL": TEST_MODEL,
        "GENAIOPS_RAG__TOP_K": str(TOP_K),
        "GENAIOPS_MLFLOW__TRACE_SAMPLE_RATE": "0",
        **extra,
    }


def run(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(app, args, env=env)


def assert_user_error(result: Result, message: str) -> None:
    """Exit 2 and a single ``error: ...`` line on stderr: what to fix, not a traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ") and message in line, line
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Result]:
    """``genaiops ingest <course> --json`` into a fresh data dir; (environment, result)."""
    env = env_for(tmp_path_factory.mktemp("cli") / "var", llm_cache_dir(tmp_path_factory))
    return env, run(["ingest", str(COURSE_DIR), "--json"], env)


@pytest.fixture(autouse=True)
def _no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # Settings reads .env from the working directory


def test_ingest_prints_its_report_as_json(ingested: tuple[dict[str, str], Result]) -> None:
    _, result = ingested
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["files_indexed"] == 5 and report["chunks_added"] > 0 and report["skipped"] == []


@pytest.mark.slow
@pytest.mark.llm
def test_ask_json_prints_the_ask_body(ingested: tuple[dict[str, str], Result]) -> None:
    env, _ = ingested
    result = run(["ask", FR_QUESTION, "--json"], env)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body) == ANSWER_KEYS
    assert body["mode"] in {"generative", "extractive"} and body["grounded"] is True
    assert 1 <= len(body["sources"]) <= TOP_K and any(s["source"] == FR_SOURCE for s in body["sources"])
    assert body["prompt"] == {"name": "rag_answer", "version": load_prompt_file("rag_answer").version}


@pytest.mark.slow
@pytest.mark.llm  # the command builds the real service, model included, even for a refusal
def test_ask_prints_the_answer_and_how_it_was_made(ingested: tuple[dict[str, str], Result]) -> None:
    env, _ = ingested
    result = run(["ask", OUT_OF_SCOPE], env)
    assert result.exit_code == 0, result.output
    first, _, status = result.stdout.strip().partition("\n\n")
    assert first == NOT_COVERED["fr"]
    assert status.startswith(f"[refusal, grounded=False, {TEST_MODEL}, {load_prompt_file('rag_answer').ref}, ")


@pytest.mark.parametrize(
    ("question", "message"),
    [("   ", "error: question must not be empty"), ("x" * 2001, "the limit is 2000")],
)
def test_a_bad_question_is_one_line_and_exit_2(
    ingested: tuple[dict[str, str], Result], question: str, message: str
) -> None:
    env, _ = ingested
    assert_user_error(run(["ask", question], env), message)


def test_a_bad_question_is_refused_before_any_model_load(tmp_path: Path) -> None:
    """The question is checked first: a missing GGUF would fail the load, yet the user hears about the question."""
    env = env_for(tmp_path / "var", tmp_path / "models", GENAIOPS_LLM__MODEL_PATH=str(tmp_path / "missing.gguf"))
    assert_user_error(run(["ask", "   "], env), "question must not be empty")


@pytest.mark.slow
@pytest.mark.llm  # the model is loaded before the index is found empty
def test_ask_before_ingest_says_what_to_run(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    env = env_for(tmp_path / "var", llm_cache_dir(tmp_path_factory))
    assert_user_error(run(["ask", FR_QUESTION, "--json"], env), "index is empty: run genaiops ingest")


def test_an_unreachable_ollama_is_named(ingested: tuple[dict[str, str], Result]) -> None:
    env, _ = ingested
    ollama = {
        "GENAIOPS_LLM__BACKEND": "ollama",
        "GENAIOPS_LLM__OLLAMA_BASE_URL": closed_port_url(),
        "GENAIOPS_LLM__TIMEOUT_S": "2",
    }
    assert_user_error(run(["ask", FR_QUESTION], {**env, **ollama}), "LLM backend 'ollama' is unavailable")


def test_ingest_of_a_missing_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = env_for(tmp_path / "var", tmp_path / "llm")
    assert_user_error(run(["ingest", str(tmp_path / "nowhere")], env), "does not exist: pass a folder")
