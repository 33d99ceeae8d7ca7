"""The llama.cpp adapter against llama.cpp itself: same GGUF, same messages -> the same answer.

LangChain's ``ChatLlamaCpp`` passes its own model parameters to llama.cpp (e.g. a RoPE base of 10000,
where Qwen2.5 was trained with 1e6); the adapter must leave the model's own ones in place, or answers
quietly degrade. Greedy decoding makes the two outputs comparable token for token.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.llm import LlamaCppChatModel
from rag.types import ChatModel

pytestmark = [pytest.mark.llm, pytest.mark.slow]

COURSE = Path(__file__).resolve().parents[2] / "data" / "course" / "001_d7d9398d42cf6008.txt"
CONTEXT = COURSE.read_text(encoding="utf-8")[:2400]  # a few hundred tokens: where a wrong RoPE shows
MESSAGES = [
    ("system", "Tu es l'assistant d'un cours de MLOps. Réponds en français, en deux phrases, d'après le contexte."),
    ("user", f"<context>\n{CONTEXT}\n</context>\n\n<question>\nQue retenir de ce chapitre ?\n</question>"),
]


def test_the_adapter_keeps_the_models_own_rope(chat_model: ChatModel) -> None:
    assert isinstance(chat_model, LlamaCppChatModel)
    client = chat_model.chat.client
    trained = float(client.metadata["qwen2.rope.freq_base"])  # 1e6 for Qwen2.5
    assert client.context_params.rope_freq_base in (0.0, trained)  # 0 = "from the model" for llama.cpp
    assert client.context_params.rope_freq_scale in (0.0, 1.0)


def test_the_adapter_answers_exactly_like_raw_llama_cpp(chat_model: ChatModel, gguf_path: Path) -> None:
    from llama_cpp import Llama

    assert isinstance(chat_model, LlamaCppChatModel)
    params = {"max_tokens": 48, "temperature": 0.0}
    # The session's model may have answered other tests first (their order differs with pytest workers): llama.cpp
    # would then reuse the common prompt prefix and evaluate the rest in other batches, whose float sums differ a
    # little, and a greedy answer can fork. From an empty cache both sides evaluate the same prompt the same way.
    chat_model.chat.client.reset()
    ours = chat_model.chat.client.create_chat_completion(  # the Llama object the adapter built
        messages=[{"role": r, "content": c} for r, c in MESSAGES], **params
    )
    raw = Llama(model_path=str(gguf_path), n_ctx=2048, n_threads=os.cpu_count() or 1, n_batch=512, verbose=False)
    try:
        theirs = raw.create_chat_completion(messages=[{"role": r, "content": c} for r, c in MESSAGES], **params)
    finally:
        raw.close()
    assert ours["choices"][0]["message"]["content"] == theirs["choices"][0]["message"]["content"]
    assert ours["usage"] == theirs["usage"]
    streamed = "".join(chat_model.stream(MESSAGES, max_tokens=24))
    assert streamed.strip(), "the adapter streams text"
