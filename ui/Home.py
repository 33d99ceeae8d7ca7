"""Chat page (the entry of the multipage app): questions about the course, answers streamed with sources.

Conversations are kept by the API: the first answer names its ``conversation_id``, which goes in
the page URL (``?c=ID``), so a refresh or a shared link reopens it from ``GET /conversations/{id}``;
later questions send that id and the server supplies the earlier turns. The sidebar lists past
conversations and starts new ones. Each answer is streamed from ``/ask/stream`` and then replaced
by the final ``done`` answer, because the API's grounding guard may have switched to an extractive
answer after the tokens were sent.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from ui.chat import conversation_label, history_of, messages_from_turns, snippet, source_title, status_line
from ui.client import ApiClient, ApiError, ModelBusyError, describe_detail
from ui.common import fetch, page_setup, show_error

PARAM = "c"  # the conversation id in the page URL
BUSY_RETRIES = 3  # a 429 (model busy) is retried this many times, after the Retry-After the API gives


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
    request_id = (msg.get("answer") or {}).get("request_id") or msg.get("request_id")
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
        elif msg.get("request_id"):  # reopened from the server: the text and the thumbs
            _feedback(api, msg)


def stream_answer(
    api: ApiClient, question: str, history: list[dict[str, str]], conversation_id: str | None = None
) -> dict[str, Any]:
    """Stream the tokens into the page, then show the final answer; returns the message to keep."""
    outcome: dict[str, Any] = {}

    def tokens():  # type: ignore[no-untyped-def]
        for event in api.ask_stream(question, history, conversation_id):
            if event.event == "token":
                yield str(event.data.get("text", ""))
            elif event.event == "done":
                outcome["done"] = event.data
            elif event.event == "error":
                outcome["error"] = describe_detail(event.data.get("detail", event.data))
                return

    placeholder = st.empty()
    for attempt in range(BUSY_RETRIES + 1):
        try:
            with placeholder.container():
                st.write_stream(tokens())
            break
        except ModelBusyError as exc:  # 429: say so and ask again when the API says it is worth it
            if attempt == BUSY_RETRIES:
                placeholder.empty()
                return {"role": "assistant", "content": "", "error": f"{exc.message}: try again later."}
            placeholder.info(f"Busy, retrying in {exc.retry_after_s} s…")
            time.sleep(exc.retry_after_s)
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


def open_conversation(api: ApiClient, messages: list[dict[str, Any]]) -> None:
    """Load the conversation named in the URL when the session does not hold it yet (a refresh, a link)."""
    wanted = st.query_params.get(PARAM)
    if not wanted or st.session_state.get("conversation_id") == wanted:
        return
    found = fetch(lambda: api.conversation(wanted))
    messages.clear()
    if found is None:  # unknown or another key's: start afresh (the error is shown)
        st.session_state["conversation_id"] = None
        del st.query_params[PARAM]
        return
    messages.extend(messages_from_turns(found["turns"]))
    st.session_state["conversation_id"] = wanted


def sidebar(api: ApiClient, messages: list[dict[str, Any]]) -> None:
    """New conversation, and the past ones (most recent first) to reopen."""
    current = st.session_state.get("conversation_id")
    if st.sidebar.button("New conversation", disabled=not messages):
        messages.clear()
        st.session_state["conversation_id"] = None
        st.query_params.clear()
        st.rerun()
    try:
        past = api.conversations()
    except ApiError as exc:
        st.sidebar.caption(f"Past conversations unavailable: {exc.message}")
        return
    if past:
        st.sidebar.subheader("Conversations")
    for conversation in past[:30]:
        label = conversation_label(conversation)
        if conversation["id"] == current:
            st.sidebar.markdown(f"**▸ {label}**")
        elif st.sidebar.button(label, key=f"conv_{conversation['id']}"):
            st.query_params[PARAM] = conversation["id"]
            st.rerun()


client = page_setup("Chat", "💬")
st.title("Ask the MLOps course")
st.caption("Answers come from the course only, with their sources. French or English.")
messages: list[dict[str, Any]] = st.session_state.setdefault("messages", [])
open_conversation(client, messages)
sidebar(client, messages)

for message in messages:
    render(client, message)

if question := st.chat_input("Ask a question about the course"):
    conversation_id = st.session_state.get("conversation_id")
    history = [] if conversation_id else history_of(messages)  # the server keeps a known conversation's turns
    messages.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        reply = stream_answer(client, question, history, conversation_id)
        if reply.get("error"):
            st.error(reply["error"])
        else:
            render_details(client, reply)
    messages.append(reply)
    new_id = (reply.get("answer") or {}).get("conversation_id")
    if new_id and new_id != conversation_id:  # the first answer: put the conversation in the URL
        st.session_state["conversation_id"] = new_id
        st.query_params[PARAM] = new_id
