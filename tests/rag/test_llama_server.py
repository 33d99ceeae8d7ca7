"""The llama-server backend: the real binary (``make llama-server``) on the packaged Qwen GGUF, as a child process.

Model tier: these load the real model (marked ``llm``). What is checked is the runtime's contract:
streamed pieces, several conversations at once, a closed stream freeing its slot, readiness that
follows the process, and a clear error when the binary or the process is missing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from genaiops.settings import Settings
from rag.llama_server import LlamaServerChatModel, build_llama_server, find_binary, server_args
from rag.types import LlmUnavailableError
from tests.rag.helpers import answer_settings
from tests.settings import llm_cache_dir

pytestmark = [pytest.mark.slow, pytest.mark.llm]
QUESTION = [("system", "Réponds en une phrase."), ("user", "Qu'est-ce que le MLOps ?")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServerChatModel]:
    settings = answer_settings(
        tmp_path_factory.mktemp("llama-server") / "var",
        llm_cache_dir(tmp_path_factory),
        llm={"backend": "llama-server", "parallel": 2, "n_ctx": 1024, "max_tokens": 24},
    )
    model = build_llama_server(settings)
    yield model
    model.close()


def test_pieces_stream_from_the_child_process(server: LlamaServerChatModel) -> None:
    pieces = list(server.stream(QUESTION))
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert server.readiness() == "ready" and server.parallel == 2


def test_two_conversations_are_served_at_once(server: LlamaServerChatModel) -> None:
    """Both slots decode in the same batch: the second stream starts before the first one ends."""
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}

    def run(index: int) -> None:
        for n, _ in enumerate(server.stream(QUESTION, max_tokens=24)):
            if n == 0:
                starts[index] = time.monotonic()
        ends[index] = time.monotonic()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(ends) == 2 and max(starts.values()) < min(ends.values())


def test_a_closed_stream_frees_its_slot(server: LlamaServerChatModel) -> None:
    stream = server.stream(QUESTION, max_tokens=200)
    next(stream)
    stream.close()  # what the scheduler does when a client leaves
    # both slots answer again right away: none is still generating the abandoned answer
    assert "".join(server.stream(QUESTION, max_tokens=8)) and "".join(server.stream(QUESTION, max_tokens=8))


def test_missing_binary_and_dead_process_are_clear_errors(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(LlmUnavailableError, match="make llama-server"):
        find_binary(tmp_path / "nope")
    args = server_args(settings, tmp_path / "model.gguf", 1234)
    assert "--parallel" in args and "--spec-type" not in args  # prompt-lookup drafting is off by default
    with_drafts = settings.model_copy(update={"llm": settings.llm.model_copy(update={"speculative": "ngram"})})
    drafting = server_args(with_drafts, tmp_path / "model.gguf", 1234)
    assert "ngram-map-k" in drafting


def test_readiness_follows_the_process(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = answer_settings(
        tmp_path_factory.mktemp("llama-server-stop") / "var",
        llm_cache_dir(tmp_path_factory),
        llm={"backend": "llama-server", "parallel": 1, "n_ctx": 512},
    )
    model = build_llama_server(settings)
    model.process.process.kill()
    model.process.process.wait(10)
    assert "exited" in model.readiness()
    with pytest.raises(LlmUnavailableError, match="llama-server"):
        list(model.stream(QUESTION))
    model.close()
