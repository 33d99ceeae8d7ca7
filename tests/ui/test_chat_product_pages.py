"""The chat's server-side conversations and the Documents page, run by Streamlit's AppTest against the
real app served by uvicorn: a small corpus in a real Chroma, real embeddings, a ``FakeChatModel``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from rag.embeddings import build_embedder
from rag.ingest import ingest
from rag.retrieval import build_retriever
from tests.app.product import ADMIN_KEY, create_key, fake_service, product_settings, served
from tests.settings import make_settings
from tests.ui.helpers import PAGES
from ui.chat import conversation_label, messages_from_turns

pytestmark = pytest.mark.slow  # Streamlit AppTest runs against a live server

CORPUS = {
    "drift.md": "# Drift\n\nLe drift des données se surveille en production avec des tests statistiques "
    "comme Kolmogorov-Smirnov. Evidently produit des rapports de drift.\n",
    "deploy.md": "# Déploiement\n\nUn modèle se sert derrière une API REST, avec FastAPI par exemple, "
    "puis se déploie dans un conteneur Docker.\n",
}
QUESTION = "Comment surveiller le drift des données en production ?"
FOLLOW_UP = "Et quel outil produit des rapports de drift ?"


def indexed_settings(tmp_path: Path) -> tuple[Any, Any]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    base = make_settings(tmp_path / "var")
    embedder = build_embedder(base)
    assert ingest(base, corpus, embedder=embedder, progress=False).files_indexed == 2
    retriever = build_retriever(base, embedder=embedder)
    retriever.refresh()
    return base, retriever


@pytest.fixture
def api_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app with client keys on; the UI is given its key the way docker-compose does."""
    base, retriever = indexed_settings(tmp_path)
    settings = product_settings(base, tmp_path, require_api_key=True)
    key = create_key(settings, "ui")
    with served(settings, fake_service(settings, retriever)) as url:
        monkeypatch.setenv("GENAIOPS_API_URL", url)
        monkeypatch.setenv("GENAIOPS_UI__API_KEY", key)
        yield url


def page(name: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(PAGES[name]), default_timeout=60)
    at.query_params.update(query)
    return at.run()


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not [e.value for e in at.error]


def test_a_conversation_survives_a_refresh_and_is_listed(api_url: str) -> None:
    at = page("chat")
    no_errors(at)
    at.chat_input[0].set_value(QUESTION).run()
    no_errors(at)
    conversation_id = at.session_state["conversation_id"]
    assert conversation_id and at.query_params["c"] == conversation_id
    at.chat_input[0].set_value(FOLLOW_UP).run()
    no_errors(at)
    assert at.session_state["conversation_id"] == conversation_id
    answers = [m["content"] for m in at.session_state["messages"] if m["role"] == "assistant"]

    reopened = page("chat", c=conversation_id)  # a refresh: a new session, only the URL is left
    no_errors(reopened)
    messages = reopened.session_state["messages"]
    assert [m["content"] for m in messages] == [QUESTION, answers[0], FOLLOW_UP, answers[1]]
    assert [m.value for m in reopened.chat_message[0].markdown] == [QUESTION]
    sidebar_text = [m.value for m in reopened.sidebar.markdown]
    assert any(QUESTION[:20] in text for text in sidebar_text)  # the current one, highlighted

    fresh = page("chat")
    [button] = [b for b in fresh.sidebar.button if b.label == conversation_label({"title": QUESTION})]
    button.click().run()  # reopen from the sidebar
    no_errors(fresh)
    assert fresh.session_state["conversation_id"] == conversation_id and len(fresh.session_state["messages"]) == 4

    [new] = [b for b in fresh.sidebar.button if b.label == "New conversation"]
    new.click().run()
    assert fresh.session_state["messages"] == [] and fresh.session_state["conversation_id"] is None
    assert "c" not in fresh.query_params


def test_an_unknown_conversation_in_the_url_says_so_and_starts_afresh(api_url: str) -> None:
    at = page("chat", c="not-a-conversation")
    assert not at.exception
    assert [e.value for e in at.error] == [
        "The API refused the request (HTTP 404): unknown conversation 'not-a-conversation'"
    ]
    assert at.session_state["messages"] == [] and "c" not in at.query_params


def test_the_documents_page_uploads_lists_and_removes(api_url: str) -> None:
    at = page("documents")
    no_errors(at)
    assert [i.value for i in at.info] == ["Enter the admin key to manage documents."]
    at.text_input[0].set_value("wrong").run()
    assert [e.value for e in at.error] == ["The API refused the request (HTTP 401): missing or wrong X-API-Key header"]

    at.text_input[0].set_value(ADMIN_KEY).run()
    no_errors(at)
    assert set(at.dataframe[0].value["source"]) == {"drift.md", "deploy.md"}

    note = "# Zorblax\n\nZorblax versionne les jeux de données des manchots.\n".encode()
    at.file_uploader[0].set_value(("zorblax.md", note, "text/markdown")).run()
    [upload] = [b for b in at.button if b.label == "Upload"]
    upload.click().run()
    no_errors(at)
    assert [s.value for s in at.success][0].startswith("zorblax.md: 1 chunks")
    assert set(at.dataframe[0].value["source"]) == {"drift.md", "deploy.md", "zorblax.md"}

    at.selectbox[0].select("zorblax.md (1 chunks)").run()
    [remove] = [b for b in at.button if b.label == "Remove"]
    remove.click().run()
    no_errors(at)
    assert set(at.dataframe[0].value["source"]) == {"drift.md", "deploy.md"}


def test_messages_from_turns_keep_the_request_id_for_the_thumbs() -> None:
    turns = [
        {"role": "user", "content": "q", "request_id": "r1", "created_at": "t"},
        {"role": "assistant", "content": "a [1]", "request_id": "r1", "created_at": "t"},
    ]
    assert messages_from_turns(turns) == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a [1]", "request_id": "r1"},
    ]
    assert conversation_label({"title": "x" * 100}, limit=10) == "x" * 9 + "…"
