"""Chat page (the entry of the multipage app): questions about the course, answers streamed with sources.

The conversation lives in ``st.session_state.messages`` and is sent as ``history``. Each answer is
streamed from ``/ask/stream`` and then replaced by the final ``done`` answer, because the API's
grounding guard may have switched to an extractive answer after the tokens were sent.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.chat import history_of, snippet, source_title, status_line
from ui.client import ApiClient, ApiError, describe_detail
from ui.common import page_setup, show_error


def render_details(api: ApiClient, msg: dict[str, Any]) -> None:
    """Mode badge, sources in an expander, and the thumbs sent to /feedback."""
    answer = msg["answer"]
    st.caption(status_line(answer))
    sources = answer.get("sources") or []
    if sources:
        with st.expander(f"Sources ({len(sources)})"):
            for n, source in enumerate(sources, 1):
                st.markdown(source_title(n, source))
                if text := snippet(str(source.get("text", ""))):
                    st.caption(text)
    _feedback(api, msg)


def _feedback(api: ApiClient, msg: dict[str, Any]) -> None:
    request_id = msg["answer"].get("request_id")
    if not request_id:
        return
    value = st.feedback("thumbs", key=f"feedback_{request_id}")
    if value is None or msg.get("rated") == value:
        return
    rating = "up" if value == 1 else "down"
    try:
        api.feedback(request_id, rating)
    except ApiError as exc:
        show_error(exc)
        return
    msg["rated"] = value
    st.toast(f"Feedback recorded ({rating}). Thank you!")


def render(api: ApiClient, msg: dict[str, Any]) -> None:
    with st.chat_message(msg["role"]):
        if msg.get("error"):
            st.error(msg["error"])
            return
        st.markdown(msg["content"])
        if msg.get("answer"):
            render_details(api, msg)


def stream_answer(api: ApiClient, question: str, history: list[dict[str, str]]) -> dict[str, Any]:
    """Stream the tokens into the page, then show the final answer; returns the message to keep."""
    outcome: dict[str, Any] = {}

    def tokens():  # type: ignore[no-untyped-def]
        for event in api.ask_stream(question, history):
            if event.event == "token":
                yield str(event.data.get("text", ""))
            elif event.event == "done":
                outcome["done"] = event.data
            elif event.event == "error":
                outcome["error"] = describe_detail(event.data.get("detail", event.data))
                return

    placeholder = st.empty()
    try:
        with placeholder.container():
            st.write_stream(tokens())
    except ApiError as exc:
        placeholder.empty()
        return {"role": "assistant", "content": "", "error": exc.message}
    done = outcome.get("done")
    if done is None:
        placeholder.empty()
        reason = outcome.get("error") or "the stream ended without a final answer"
        return {"role": "assistant", "content": "", "error": f"The answer failed: {reason}. Try again."}
    placeholder.markdown(done.get("answer", ""))
    return {"role": "assistant", "content": done.get("answer", ""), "answer": done}


client = page_setup("Chat", "💬")
st.title("Ask the MLOps course")
st.caption("Answers come from the course only, with their sources. French or English.")
messages: list[dict[str, Any]] = st.session_state.setdefault("messages", [])

for message in messages:
    render(client, message)

if question := st.chat_input("Ask a question about the course"):
    history = history_of(messages)
    messages.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        reply = stream_answer(client, question, history)
        if reply.get("error"):
            st.error(reply["error"])
        else:
            render_details(client, reply)
    messages.append(reply)

if messages and st.sidebar.button("New conversation"):
    messages.clear()
    st.rerun()
