"""``/documents``: upload, list, delete, behind the admin key; bad uploads refused with nothing changed.

A small corpus of our own in a real embedded Chroma (never the shared course index: these tests
change the store), the real embedder, the real ingestion, a ``FakeChatModel`` to answer.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eval.release import corpus_fingerprint
from genaiops.settings import Settings
from rag.ingest import ingest
from rag.retrieval import build_retriever
from rag.types import Embedder
from tests.app.product import ADMIN_KEY, client_for, fake_service, product_settings
from tests.settings import make_settings

ADMIN = {"X-API-Key": ADMIN_KEY}
ZORBLAX = (
    "# Zorblax\n\n## Versionner les données\n\n"
    "Zorblax est l'outil interne de l'équipe pour versionner les jeux de données des manchots. "
    "Zorblax compresse chaque instantané des données et le signe avant de l'archiver.\n"
).encode()
QUESTION = "Qu'est-ce que Zorblax et que fait Zorblax des instantanés ?"
COURSE = {
    "drift.md": "# Drift\n\nLe drift des données se surveille en production avec des tests statistiques "
    "comme Kolmogorov-Smirnov. Evidently produit des rapports de drift.\n",
    "deploy.md": "# Déploiement\n\nUn modèle se sert derrière une API REST, avec FastAPI par exemple, "
    "puis se déploie dans un conteneur Docker.\n",
}


@pytest.fixture
def library(tmp_path: Path, embedder: Embedder) -> Iterator[tuple[TestClient, Settings, Any]]:
    """(client, settings, retriever): a two-file corpus indexed in this test's own Chroma."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in COURSE.items():
        (corpus / name).write_text(text, encoding="utf-8")
    base = make_settings(tmp_path / "var")
    base = base.model_copy(update={"rag": base.rag.model_copy(update={"corpus_dir": corpus})})
    assert ingest(base, corpus, embedder=embedder, progress=False).files_indexed == 2
    retriever = build_retriever(base, embedder=embedder)
    retriever.refresh()
    settings = product_settings(base, tmp_path, max_upload_bytes=4096)
    with client_for(settings, fake_service(settings, retriever)) as client:
        yield client, settings, retriever


def upload(client: TestClient, name: str, data: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post("/documents", files={"file": (name, data)}, headers=ADMIN if headers is None else headers)


def chunk_ids(retriever: Any) -> list[str]:
    return sorted(c.id for c in retriever.store.all_chunks())


def cited(client: TestClient, question: str = QUESTION) -> list[str]:
    return [s["source"] for s in client.post("/ask", json={"question": question}).json()["sources"]]


def test_upload_list_ask_and_delete_a_document(library: tuple[TestClient, Settings, Any]) -> None:
    client, _, retriever = library
    before = corpus_fingerprint(chunk_ids(retriever))
    assert "zorblax.md" not in cited(client)

    created = upload(client, "zorblax.md", ZORBLAX)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["source"] == "zorblax.md" and body["chunks"] >= 1 and body["chunks_added"] == body["chunks"]
    assert body["changed"] is True
    assert corpus_fingerprint(chunk_ids(retriever)) != before  # the next eval run sees a new corpus
    assert cited(client)[0] == "zorblax.md"  # the retriever saw the new chunks at once

    listed = {d["source"]: d for d in client.get("/documents", headers=ADMIN).json()}
    assert set(listed) == {"drift.md", "deploy.md", "zorblax.md"}
    mine = listed["zorblax.md"]
    assert mine["document_id"] == body["document_id"] and mine["chunks"] == body["chunks"]
    assert mine["size_bytes"] == len(ZORBLAX) and mine["added_at"] and mine["uploaded"] is True
    course = listed["drift.md"]
    assert course["uploaded"] is False and course["size_bytes"] == len(COURSE["drift.md"].encode()) and course["chunks"]

    assert client.delete(f"/documents/{body['document_id']}", headers=ADMIN).status_code == 204
    assert "zorblax.md" not in cited(client)  # no longer cited
    assert corpus_fingerprint(chunk_ids(retriever)) == before
    assert "zorblax.md" not in {d["source"] for d in client.get("/documents", headers=ADMIN).json()}
    assert client.delete(f"/documents/{body['document_id']}", headers=ADMIN).status_code == 404
    assert client.delete("/documents/unknown", headers=ADMIN).status_code == 404


def test_reuploading_the_same_file_changes_nothing_and_a_new_version_replaces_it(
    library: tuple[TestClient, Settings, Any],
) -> None:
    client, _, retriever = library
    first = upload(client, "zorblax.md", ZORBLAX).json()
    ids = chunk_ids(retriever)
    again = upload(client, "zorblax.md", ZORBLAX)
    assert again.status_code == 201
    assert again.json() | {"changed": None} == first | {"chunks_added": 0, "changed": None}
    assert again.json()["changed"] is False and chunk_ids(retriever) == ids
    added_at = {d["source"]: d["added_at"] for d in client.get("/documents", headers=ADMIN).json()}["zorblax.md"]

    accented = upload(client, "données élaborées.txt", ZORBLAX)
    assert accented.status_code == 201 and accented.json()["source"] == "données élaborées.txt"
    assert client.delete(f"/documents/{accented.json()['document_id']}", headers=ADMIN).status_code == 204

    newer = upload(client, "zorblax.md", ZORBLAX.replace(b"manchots", b"pingouins")).json()
    assert newer["changed"] is True and newer["chunks_removed"] >= 1
    assert newer["document_id"] == first["document_id"]
    listed = {d["source"]: d for d in client.get("/documents", headers=ADMIN).json()}
    assert listed["zorblax.md"]["added_at"] == added_at  # first added then, updated since
    assert len(chunk_ids(retriever)) == len(ids)


def blank_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "status", "says"),
    [
        ("big.md", b"# Gros\n\n" + b"texte " * 1000, 413, "limit is 4096"),
        ("notes.docx", b"PK\x03\x04 not really", 415, "unsupported type"),
        ("notes", b"no extension", 415, "unsupported type"),
        ("empty.md", b"", 422, "empty"),
        ("blank.txt", b"   \n\n  ", 422, "empty"),
        ("latin1.txt", "Données élaborées".encode("latin-1"), 422, "not valid UTF-8"),
        ("binary.md", b"\x00\x01\x02 abc", 422, "binary"),
        ("scan.pdf", None, 422, "no extractable text"),
        ("broken.pdf", b"%PDF-1.4 garbage", 422, "PDF"),
        ("../evil.md", ZORBLAX, 422, "contains a path"),
        ("sub/dir.md", ZORBLAX, 422, "contains a path"),
        ("C:\\docs\\x.md", ZORBLAX, 422, "contains a path"),
        (".hidden.md", ZORBLAX, 422, "hidden"),
    ],
)
def test_a_bad_upload_is_a_clear_4xx_and_changes_nothing(
    library: tuple[TestClient, Settings, Any], name: str, data: bytes | None, status: int, says: str
) -> None:
    client, _, retriever = library
    before = chunk_ids(retriever)
    response = upload(client, name, blank_pdf() if data is None else data)
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    assert chunk_ids(retriever) == before
    assert len(client.get("/documents", headers=ADMIN).json()) == 2


def test_documents_need_the_admin_key(library: tuple[TestClient, Settings, Any]) -> None:
    client, _, retriever = library
    before = chunk_ids(retriever)
    for headers in ({}, {"X-API-Key": "wrong"}):
        assert upload(client, "zorblax.md", ZORBLAX, headers=headers).status_code == 401
        assert client.get("/documents", headers=headers).status_code == 401
        assert client.delete("/documents/whatever", headers=headers).status_code == 401
    assert chunk_ids(retriever) == before
    assert client.post("/documents", headers=ADMIN).status_code == 422  # no file field
    assert client.post("/documents", data={"file": "not a file"}, headers=ADMIN).status_code == 422


def test_documents_are_off_without_an_admin_key_configured(
    library: tuple[TestClient, Settings, Any], tmp_path: Path
) -> None:
    _, settings, retriever = library
    off = settings.model_copy(update={"api": settings.api.model_copy(update={"admin_api_key": None})})
    with client_for(off, fake_service(off, retriever)) as client:
        response = client.get("/documents", headers=ADMIN)
        assert response.status_code == 503 and "GENAIOPS_API__ADMIN_API_KEY" in response.json()["detail"]


def test_openapi_documents_every_status_the_new_routes_return(library: tuple[TestClient, Settings, Any]) -> None:
    client, _, _ = library
    paths = client.get("/openapi.json").json()["paths"]

    def codes(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    assert {"201", "401", "413", "415", "422", "503"} <= codes("/documents", "post")
    assert {"200", "401", "503"} <= codes("/documents", "get")
    assert {"204", "401", "404", "422", "503"} <= codes("/documents/{document_id}", "delete")
    assert {"200", "401", "403", "404", "422", "429", "503"} <= codes("/conversations/{conversation_id}", "get")
    assert {"204", "401", "403", "404", "429", "503"} <= codes("/conversations/{conversation_id}", "delete")
    for route in ("/ask", "/ask/stream"):
        assert {"200", "401", "403", "404", "422", "429", "503"} <= codes(route, "post")
    assert {"200", "400", "401", "403", "404", "429", "503"} <= codes("/v1/chat/completions", "post")
