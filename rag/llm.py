"""The LLM port's adapters: LangChain chat models behind ``ChatModel`` (rag/types.py).

``llamacpp`` (default) runs the verified GGUF in-process through LangChain's ``ChatLlamaCpp``;
``ollama`` talks to an Ollama server through ``langchain-ollama``. Both stream text pieces, and
every backend failure surfaces as ``LlmUnavailableError`` naming the backend, so the API can
answer 503 instead of hanging or crashing. Heavy imports happen in ``build_chat_model`` only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from genaiops.settings import Settings
from rag.types import ChatMessage, ChatModel, LlmUnavailableError

log = logging.getLogger(__name__)

_ROLES = {"system", "user", "assistant"}


def to_langchain(messages: Sequence[ChatMessage]) -> list[Any]:
    """(role, content) pairs to LangChain messages; an unknown role is a programming error."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    classes = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    out = []
    for role, content in messages:
        if role not in _ROLES:
            raise ValueError(f"unknown chat role {role!r}")
        out.append(classes[role](content=content))
    return out


class LlamaCppChatModel:
    """In-process llama.cpp. One context cannot serve two calls at once: calls are serialized by a lock."""

    backend = "llamacpp"

    def __init__(self, chat: Any, name: str, max_tokens: int) -> None:
        self.chat = chat  # langchain_community ChatLlamaCpp
        self.name = name
        self.max_tokens = max_tokens
        self._lock = threading.Lock()

    def generate(self, messages: Sequence[ChatMessage], max_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_tokens))

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int | None = None) -> Iterator[str]:
        lc_messages = to_langchain(messages)
        with self._lock:
            for chunk in self.chat.stream(lc_messages, max_tokens=max_tokens or self.max_tokens):
                if chunk.content:
                    yield str(chunk.content)

    def readiness(self) -> str:
        return "ready"

    def close(self) -> None:
        client = getattr(self.chat, "client", None)
        if client is not None and hasattr(client, "close"):
            client.close()


class OllamaChatModel:
    """An Ollama server. Connection errors, HTTP errors and timeouts become ``LlmUnavailableError``."""

    backend = "ollama"

    def __init__(self, chat: Any, name: str, base_url: str, options: dict[str, Any], timeout_s: float) -> None:
        self.chat = chat  # langchain_ollama ChatOllama
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.options = options
        self.timeout_s = timeout_s

    def _options(self, max_tokens: int | None) -> dict[str, Any]:
        return {**self.options, "num_predict": max_tokens or self.options["num_predict"]}

    def generate(self, messages: Sequence[ChatMessage], max_tokens: int | None = None) -> str:
        with _ollama_errors(self.base_url):
            reply = self.chat.invoke(to_langchain(messages), options=self._options(max_tokens), stream=False)
        return str(reply.content)

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int | None = None) -> Iterator[str]:
        lc_messages = to_langchain(messages)
        with _ollama_errors(self.base_url):
            for chunk in self.chat.stream(lc_messages, options=self._options(max_tokens)):
                if chunk.content:
                    yield str(chunk.content)

    def readiness(self) -> str:
        """'ready' when the server answers and has the model, else why not (bounded by a short timeout)."""
        import httpx

        try:
            response = httpx.get(f"{self.base_url}/api/tags", timeout=min(self.timeout_s, 3.0))
            response.raise_for_status()
            names = {m.get("name") for m in response.json().get("models", [])} | {
                m.get("model") for m in response.json().get("models", [])
            }
        except (httpx.HTTPError, ValueError) as exc:
            return f"LLM backend 'ollama' unreachable at {self.base_url}: {type(exc).__name__}"
        if self.name not in names and f"{self.name}:latest" not in names:
            return f"LLM backend 'ollama' has no model {self.name!r}: run `ollama pull {self.name}`"
        return "ready"


@contextlib.contextmanager
def _ollama_errors(base_url: str) -> Iterator[None]:
    """Translate whatever the Ollama client raises into ``LlmUnavailableError('ollama', ...)``."""
    import httpx
    import ollama

    try:
        yield
    except httpx.TimeoutException as exc:
        raise LlmUnavailableError("ollama", f"no answer from {base_url} in time ({type(exc).__name__})") from exc
    except (ConnectionError, httpx.HTTPError) as exc:
        raise LlmUnavailableError("ollama", f"cannot reach {base_url} ({type(exc).__name__})") from exc
    except ollama.ResponseError as exc:
        raise LlmUnavailableError("ollama", f"server error {exc.status_code}: {exc.error}") from exc


def build_chat_model(settings: Settings) -> ChatModel:
    """The chat model ``settings.llm.backend`` names; the import of each backend is lazy."""
    match settings.llm.backend:
        case "llama-server":
            from rag.llama_server import build_llama_server

            return build_llama_server(settings)
        case "llamacpp":
            return _build_llamacpp(settings)
        case "ollama":
            return _build_ollama(settings)
    raise ValueError(f"unknown llm.backend {settings.llm.backend!r}")


def _build_llamacpp(settings: Settings) -> LlamaCppChatModel:
    from rag.llm_weights import WeightsError, model_path

    try:
        path = model_path(settings)
    except WeightsError as exc:
        raise LlmUnavailableError("llamacpp", str(exc)) from exc
    try:
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError as exc:  # pragma: no cover - part of the base install
        raise LlmUnavailableError("llamacpp", "install llama-cpp-python and langchain-community") from exc
    llm = settings.llm
    chat = ChatLlamaCpp(
        model_path=str(path),
        n_ctx=llm.n_ctx,
        n_threads=llm.n_threads or os.cpu_count() or 1,
        n_batch=512,  # ChatLlamaCpp's default of 8 makes prompt evaluation several times slower
        # 0 = the model's own RoPE (Qwen2.5: base 1e6). ChatLlamaCpp otherwise forces base 10000 / scale 1,
        # which llama.cpp obeys: positions are then encoded unlike in training and answers degrade.
        rope_freq_base=0.0,
        rope_freq_scale=0.0,
        max_tokens=llm.max_tokens,
        temperature=llm.temperature,
        seed=llm.seed,
        repeat_penalty=1.1,
        verbose=False,
        streaming=True,
    )
    name = settings.llm.model if settings.llm.model_path is None else path.stem
    log.info("loaded %s with llama.cpp (n_ctx=%d)", path.name, llm.n_ctx)
    return LlamaCppChatModel(chat, name=name, max_tokens=llm.max_tokens)


def _build_ollama(settings: Settings) -> OllamaChatModel:
    from langchain_ollama import ChatOllama

    llm = settings.llm
    options = {"num_predict": llm.max_tokens, "temperature": llm.temperature, "seed": llm.seed, "num_ctx": llm.n_ctx}
    chat = ChatOllama(
        model=llm.ollama_model,
        base_url=llm.ollama_base_url,
        client_kwargs={"timeout": llm.timeout_s},
        validate_model_on_init=False,  # start-up must not depend on the server being up
    )
    return OllamaChatModel(chat, llm.ollama_model, llm.ollama_base_url, options, llm.timeout_s)
