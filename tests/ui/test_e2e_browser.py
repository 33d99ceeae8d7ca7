"""End to end in a real browser: `genaiops up` starts the API and the UI, Debian's headless Chromium asks a
course question and sees the answer and its sources, then Ctrl-C stops both servers.

Set ``GENAIOPS_SCREENSHOTS=1`` to also save one screenshot per page under docs/screenshots/. The pages
then get real data first: two registered prompt versions (production, candidate) each scored by a short
real eval run, then demo traffic through the API (calm then drifted penguins, in-scope then off-topic
questions with feedback), so every chart of the README images is drawn from what the service logged.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench import screenshots
from genaiops.settings import REPO_ROOT, Settings
from tests.conftest import in_ci
from tests.ui.helpers import CANDIDATE_EDIT, evaluate_prompt_versions, free_port, register_prompt_versions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SCREENSHOT_DIR = REPO_ROOT / "docs" / "screenshots"
PREDICTION_WINDOW, ASK_WINDOW = 50, 10


def screenshots_wanted() -> bool:
    return bool(os.environ.get("GENAIOPS_SCREENSHOTS"))


def require_chromium() -> None:
    if screenshots.CHROMIUM.exists():
        return
    message = f"{screenshots.CHROMIUM} is missing: `make browser` (apt-get install chromium) installs it"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def up_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process build the same settings as ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENAIOPS_")}
    env.update(
        {
            "GENAIOPS_ENV": "test",
            "GENAIOPS_DATA_DIR": str(settings.data_dir),
            "GENAIOPS_LLM__MODEL_CACHE_DIR": str(settings.llm.model_cache_dir),
            "GENAIOPS_LLM__MAX_TOKENS": str(settings.llm.max_tokens),
            "GENAIOPS_RAG__TOP_K": str(settings.rag.top_k),
            "GENAIOPS_MLFLOW__TRACKING_URI": str(settings.mlflow.tracking_uri),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class Up:
    """`genaiops up` as a child process whose output is collected line by line."""

    def __init__(self, settings: Settings, cwd: Path) -> None:
        self.api_port, self.ui_port = free_port(), free_port()
        command = [sys.executable, "-m", "app.cli", "up", "--api-port", str(self.api_port)]
        command += ["--ui-port", str(self.ui_port)]
        self.process = subprocess.Popen(
            command, env=up_env(settings), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.lines[-40:])
                raise AssertionError(f"`genaiops up` never printed {text!r} (exit {self.process.poll()}):\n{tail}")
            time.sleep(0.2)

    def interrupt(self, timeout_s: float = 300) -> int:
        """Ctrl-C; ``up`` stops its children within its own grace (15 s, then SIGKILL). The bound here only
        catches a hang: how fast a loaded machine stops the API and the UI is not what this test checks."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout_s)


@pytest.fixture
def up(prepared: Settings, tmp_path: Path) -> Iterator[Up]:
    require_chromium()
    if screenshots_wanted():  # before the API starts, so it answers with the registry's production prompt
        register_prompt_versions(prepared, tmp_path / "prompt-files")  # not "prompts": tmp_path is the cwd of `up`
        evaluate_prompt_versions(prepared)
    running = Up(prepared, tmp_path)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def port_closed(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.TransportError:
        return True
    return False


def test_ask_a_course_question_in_chromium(up: Up) -> None:
    up.wait_for("Ctrl-C stops both", timeout_s=300)
    ui_url, api_url = f"http://127.0.0.1:{up.ui_port}", f"http://127.0.0.1:{up.api_port}"
    assert any(line.startswith(f"API: {api_url}") for line in up.lines)
    assert f"UI:  {ui_url}" in up.lines

    if screenshots_wanted():
        screenshots.seed_predictions(api_url, windows=4, size=PREDICTION_WINDOW)
        modes = screenshots.seed_asks(api_url, window=ASK_WINDOW)
        assert modes.get("refusal", 0) >= ASK_WINDOW // 2, modes  # the off-topic window was refused
        seen = screenshots.capture_all(ui_url, SCREENSHOT_DIR, window=PREDICTION_WINDOW, rag_window=ASK_WINDOW)
        chat, prediction = seen["chat"], seen["predict"]
        for name in ("chat", "predict", "monitoring", "prompts"):
            assert (SCREENSHOT_DIR / f"{name}.png").stat().st_size > 10_000
        monitoring, prompts = seen["monitoring"], seen["prompts"]
        assert re.search(r"Status\s+drift", monitoring) and re.search(r"Status\s+regression", monitoring), monitoring
        assert "No evaluation run recorded yet" not in monitoring and "No questions logged yet" not in monitoring
        assert CANDIDATE_EDIT[1] in prompts, prompts  # the diff
        versions = httpx.get(f"{api_url}/prompts", timeout=30).json()[0]["versions"]
        assert [(v["version"], v["aliases"]) for v in versions] == [("2", ["candidate"]), ("1", ["production"])]
    else:
        with screenshots.browser_page() as page:
            chat = screenshots.ask(page, ui_url)
            prediction = screenshots.predict(page, ui_url)
    assert chat["answer"].strip(), chat
    assert chat["caption"].startswith(("generative", "extractive")), chat
    # a course document is cited by its title, never by its hashed file name
    assert "[1] " in chat["sources"] and not re.search(r"\[1\] \d+_[0-9a-f]{16}", chat["sources"]), chat
    assert prediction in ("Adelie", "Chinstrap", "Gentoo")

    assert up.interrupt() == 0, "\n".join(up.lines[-20:])
    assert "stopping the API and the UI" in up.lines
    assert port_closed(up.api_port) and port_closed(up.ui_port)
