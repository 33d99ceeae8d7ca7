"""The chat's pure parts: what is sent as history, how an answer's status line and sources read.

Kept out of ``Home.py`` (a Streamlit script, run top to bottom) so they can be unit-tested.
"""

from __future__ import annotations

import re
from typing import Any

MODE_BADGES = {
    "generative": ":green-badge[generative]",
    "extractive": ":orange-badge[extractive]",
    "refusal": ":gray-badge[refusal]",
}
SNIPPET_CHARS = 320
_TAG = re.compile(r"<[^>]{0,400}>")
_MARKDOWN = re.compile(r"[\\`*_{}\[\]()#+\-!|>~<$:]")


def history_of(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The turns sent as ``history``: answered questions and their answers (a failed turn is left out)."""
    turns: list[dict[str, str]] = []
    for i, msg in enumerate(messages):
        failed = msg.get("error") or (i + 1 < len(messages) and messages[i + 1].get("error"))
        if msg.get("content") and not failed:
            turns.append({"role": msg["role"], "content": msg["content"]})
    return turns


def status_line(answer: dict[str, Any]) -> str:
    """Mode badge, grounding, prompt version and duration, e.g. ``generative · grounded · prompt rag@3 · 2.1 s``."""
    mode = str(answer.get("mode", "?"))
    bits = [MODE_BADGES.get(mode, f":gray-badge[{mode}]")]
    bits.append("grounded" if answer.get("grounded") else "not grounded")
    prompt = answer.get("prompt") or {}
    if prompt:
        bits.append(f"prompt {prompt.get('name')}@{prompt.get('version')}")
    total = (answer.get("timings_ms") or {}).get("total")
    if total is not None:
        bits.append(f"{float(total) / 1000:.1f} s")
    return " · ".join(bits)


def source_title(n: int, source: dict[str, Any]) -> str:
    """The document's title, read from the course itself: its file name is a hash and tells a reader nothing."""
    heading = source.get("heading") or "(no heading)"
    name = source.get("title") or source.get("source", "?")
    return f"**[{n}] {name}** · {heading} · score {float(source.get('score') or 0):.2f}"


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """A passage as one plain line: HTML tags dropped, markdown escaped, cut at ``limit`` characters."""
    plain = " ".join(_TAG.sub(" ", text).split())
    cut = plain[:limit] + ("…" if len(plain) > limit else "")
    return _MARKDOWN.sub(r"\\\g<0>", cut)


def messages_from_turns(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A conversation read back from ``GET /conversations/{id}`` as the chat's messages.

    A reopened answer keeps its ``request_id`` (the thumbs still work) but not its sources: the
    server keeps the turns' text, the ask log and the traces keep the rest.
    """
    messages: list[dict[str, Any]] = []
    for turn in turns:
        message: dict[str, Any] = {"role": turn["role"], "content": turn["content"]}
        if turn["role"] == "assistant" and turn.get("request_id"):
            message["request_id"] = turn["request_id"]
        messages.append(message)
    return messages


def conversation_label(conversation: dict[str, Any], limit: int = 48) -> str:
    """The sidebar button of a past conversation: its title (the first question), cut short."""
    title = " ".join(str(conversation.get("title") or "(untitled)").split())
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"
