"""``load_prompt(name, settings)``: the registry's ``production`` version when there is one, else the file."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from genaiops.settings import Settings
from prompts import load_prompt, load_prompt_file
from prompts.registry import promote, push, to_chat
from tests.prompts.conftest import EDIT

NAME = "rag_answer"


def prompt_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "prompts.selector" and r.levelno >= logging.INFO]


@pytest.fixture(autouse=True)
def _fresh_announcements() -> None:
    """Logging "once" is per process: each test starts as a fresh process would."""
    import prompts.selector

    prompts.selector._announced.clear()


def test_without_settings_it_is_the_file() -> None:
    prompt = load_prompt(NAME)
    assert prompt == load_prompt_file(NAME) and prompt.source == "file" and "{question}" in prompt.template.user


def test_production_alias_wins_over_the_file_and_is_logged_once(
    settings: Settings, templates: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="prompts.selector")
    first = load_prompt(NAME, settings)  # no MLflow database yet: the file, without creating one
    assert first.source == "file"
    assert not Path(str(settings.mlflow.tracking_uri).removeprefix("sqlite:///")).exists()

    path = templates / f"{NAME}.yaml"
    path.write_text(path.read_text().replace(*EDIT))
    push(settings, templates)
    assert load_prompt(NAME, settings).source == "file"  # registered, but no production alias yet
    promote(settings, NAME, 1, "production")

    caplog.clear()
    chosen = load_prompt(NAME, settings)
    again = load_prompt(NAME, settings)
    assert (chosen.source, chosen.version) == ("registry", "1")
    assert EDIT[1] in chosen.template.system  # the registered text, not the file's
    assert again == chosen
    announced = prompt_records(caplog)
    assert len(announced) == 1 and "registry version 1" in announced[0].getMessage()  # once, not per load


def test_registry_down_falls_back_to_the_file_quickly(
    settings: Settings, silent_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    down = settings.model_copy(deep=True)
    down.mlflow.tracking_uri = silent_url
    started = time.monotonic()
    prompt = load_prompt(NAME, down)
    waited = time.monotonic() - started
    assert prompt.source == "file"
    # a hang check, not a benchmark: MLflow's own client would retry a silent server for minutes
    assert waited < 10, f"falling back took {waited:.1f} s"
    warnings = [r for r in prompt_records(caplog) if r.levelno == logging.WARNING]
    assert warnings and "unreachable" in warnings[0].getMessage()


def test_a_registered_version_with_other_variables_is_refused(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Registered by hand (outside `prompts push`, which would refuse it): the service must not use it."""
    from genaiops.tracking import mlflow_store

    client = mlflow_store(settings).client
    chat = to_chat(load_prompt(NAME))
    chat[1]["content"] = chat[1]["content"].replace("{{question}}", "")  # the question would vanish
    version = client.register_prompt(name=NAME, template=chat)
    client.set_prompt_alias(NAME, alias="production", version=int(version.version))

    prompt = load_prompt(NAME, settings)
    assert prompt.source == "file"
    assert any("variables" in r.getMessage() and r.levelno == logging.WARNING for r in prompt_records(caplog))
