"""Client API keys: which routes need one, 401 / 403 / 429, and conversations owned by their key.

The real app over the session's course index and a ``FakeChatModel``, keys in a real SQLite (and
a real Postgres database for the production setting).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from genaiops.keys import RateLimiter
from genaiops.settings import Settings
from rag.retrieval import HybridRetriever
from tests.app.product import bearer, client_for, create_key, fake_service, product_settings, revoke_key
from tests.classic_ml.helpers import fresh_postgres_database, require_postgres
from tests.rag.helpers import FR_QUESTION

ASK = {"question": FR_QUESTION}
# every route that answers users, and a body that would be valid
PROTECTED = [
    ("POST", "/ask", ASK),
    ("POST", "/ask/stream", ASK),
    ("POST", "/v1/chat/completions", {"model": "genaiops-rag", "messages": [{"role": "user", "content": "x"}]}),
    ("GET", "/v1/models", None),
    ("POST", "/predict", {"x": 1}),
    ("GET", "/predict/schema", None),
    ("POST", "/feedback", {"request_id": "r", "rating": "up"}),
    ("GET", "/conversations", None),
    ("GET", "/conversations/some-id", None),
    ("DELETE", "/conversations/some-id", None),
]


def test_with_keys_required_every_user_route_needs_a_valid_key(
    course_index: tuple[Settings, HybridRetriever], tmp_path: Path
) -> None:
    base, retriever = course_index
    settings = product_settings(base, tmp_path, require_api_key=True)
    key = create_key(settings, "tester")
    revoked = create_key(settings, "former")
    revoke_key(settings, "former")
    with client_for(settings, fake_service(settings, retriever)) as client:
        for method, path, body in PROTECTED:
            missing = client.request(method, path, json=body)
            assert missing.status_code == 401, (path, missing.text)
            assert missing.headers["WWW-Authenticate"] == "Bearer"
            assert client.request(method, path, json=body, headers=bearer("gk_never_issued")).status_code == 401
            gone = client.request(method, path, json=body, headers={"X-API-Key": revoked})
            assert gone.status_code == 403 and "revoked" in gone.text, path
        assert client.post("/ask", json=ASK, headers=bearer(key)).status_code == 200
        assert client.post("/ask", json=ASK, headers={"X-API-Key": key}).status_code == 200
        assert client.get("/v1/models", headers=bearer(key)).status_code == 200
        assert client.post("/predict", json={"x": 1}, headers=bearer(key)).status_code == 503  # past the key: no model
        for path in ("/health", "/ready", "/metrics"):  # probes and scraping stay open
            assert client.get(path).status_code in (200, 503), path
            assert client.get(path).status_code != 401


def test_openapi_declares_the_key_exactly_on_the_user_routes(
    course_index: tuple[Settings, HybridRetriever], tmp_path: Path
) -> None:
    base, retriever = course_index
    settings = product_settings(base, tmp_path)
    with client_for(settings, fake_service(settings, retriever)) as client:
        schema = client.get("/openapi.json").json()
    keyed = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            schemes = {name for entry in operation.get("security", []) for name in entry}
            if "ClientKeyBearer" in schemes:
                keyed.add((method.upper(), path))
                assert {"401", "403", "429", "503"} <= set(operation["responses"]), (method, path)
    expected = {(m, p.replace("some-id", "{conversation_id}")) for m, p, _ in PROTECTED}
    expected |= {("GET", "/v1/models/{model}")}
    assert keyed == expected


def test_keys_off_by_default_nothing_is_asked(course_index: tuple[Settings, HybridRetriever], tmp_path: Path) -> None:
    base, retriever = course_index
    settings = product_settings(base, tmp_path)
    assert settings.api.require_api_key is False
    with client_for(settings, fake_service(settings, retriever)) as client:
        assert client.post("/ask", json=ASK).status_code == 200
        assert client.get("/conversations").status_code == 200


def test_over_the_per_key_rate_limit_is_a_429_with_retry_after(
    course_index: tuple[Settings, HybridRetriever], tmp_path: Path
) -> None:
    base, retriever = course_index
    settings = product_settings(base, tmp_path, require_api_key=True, rate_limit_per_minute=3)
    one, other = create_key(settings, "one"), create_key(settings, "other")
    with client_for(settings, fake_service(settings, retriever)) as client:
        for _ in range(3):
            assert client.get("/conversations", headers=bearer(one)).status_code == 200
        limited = client.post("/ask", json=ASK, headers=bearer(one))
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
        assert "3 requests per minute" in limited.json()["detail"]
        openai_shaped = client.get("/v1/models", headers=bearer(one))
        assert openai_shaped.status_code == 429 and openai_shaped.json()["error"]["type"] == "rate_limit_exceeded"
        assert client.get("/conversations", headers=bearer(other)).status_code == 200  # per key


def test_the_rate_limiter_slides_over_sixty_seconds() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.check("k") == 0 and limiter.check("k") == 0
    now[0] += 10
    assert limiter.check("k") == 50  # the first hit leaves the window in 50 s
    now[0] += 50
    assert limiter.check("k") == 0
    assert RateLimiter(0).check("k") == 0  # 0 = no limit


def conversations_belong_to_their_key(settings: Settings, retriever: HybridRetriever) -> None:
    alice, bob = create_key(settings, "alice"), create_key(settings, "bob")
    with client_for(settings, fake_service(settings, retriever)) as client:
        mine = client.post("/ask", json=ASK, headers=bearer(alice)).json()["conversation_id"]
        assert [c["id"] for c in client.get("/conversations", headers=bearer(alice)).json()] == [mine]
        assert client.get("/conversations", headers=bearer(bob)).json() == []
        for method in ("GET", "DELETE"):
            assert client.request(method, f"/conversations/{mine}", headers=bearer(bob)).status_code == 404
        body = {"question": FR_QUESTION, "conversation_id": mine}
        assert client.post("/ask", json=body, headers=bearer(bob)).status_code == 404
        assert client.post("/ask/stream", json=body, headers=bearer(bob)).status_code == 404
        assert client.post("/ask", json=body, headers=bearer(alice)).status_code == 200
        assert len(client.get(f"/conversations/{mine}", headers=bearer(alice)).json()["turns"]) == 4
        assert client.delete(f"/conversations/{mine}", headers=bearer(alice)).status_code == 204


def test_conversations_belong_to_the_key_that_created_them(
    course_index: tuple[Settings, HybridRetriever], tmp_path: Path
) -> None:
    base, retriever = course_index
    conversations_belong_to_their_key(product_settings(base, tmp_path, require_api_key=True), retriever)


@pytest.mark.postgres
def test_keys_and_ownership_on_postgres(course_index: tuple[Settings, HybridRetriever], tmp_path: Path) -> None:
    require_postgres()
    base, retriever = course_index
    with fresh_postgres_database() as url:
        settings = product_settings(base, tmp_path, database_url=url, require_api_key=True)
        conversations_belong_to_their_key(settings, retriever)
        revoke_key(settings, "alice")
        with client_for(settings, fake_service(settings, retriever)) as client:
            assert client.get("/conversations", headers=bearer("gk_unknown")).status_code == 401
            assert client.get("/conversations").status_code == 401
