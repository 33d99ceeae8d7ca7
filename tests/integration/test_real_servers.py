"""The same code against real servers: ``mlflow server`` + ``chroma run`` on 127.0.0.1, then without them.

ingest -> train -> prompts push (CLI, settings from the environment as in the compose stack) ->
/ask, /ask/stream, /predict (the real app, real llama.cpp) -> batch predict and eval (CLI) -> the
servers stop one after the other, and the API must keep its promises: /predict and /ask keep
answering without MLflow (traces dropped, never a 500 or a hang); without Chroma /ask is a quick
503 naming the vector store, /predict still answers, and /ask recovers when Chroma is back.

The tests run in file order on one module-scoped stack: the last two stop the servers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from genaiops.settings import Settings
from tests.classic_ml.helpers import RECORD
from tests.integration.conftest import ADMIN_KEY, Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "Quels outils permettent de détecter le drift en production ?"
COURSE_FILES = 5


def cli(*args: str) -> str:
    """``genaiops ARGS`` in this process (its settings come from the environment of ``stack_env``)."""
    from app.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, f"genaiops {' '.join(args)} exited {result.exit_code}:\n{result.output}"
    return result.output


def mlflow_client(servers: Stack) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=servers.mlflow.url, registry_uri=servers.mlflow.url)


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call(*args, **kwargs)
    return result, time.perf_counter() - started


@pytest.fixture(scope="module")
def prepared(stack_env: Settings) -> dict[str, str]:
    """What `docker/init.sh` runs in the compose stack: ingest, train, prompts push."""
    return {
        "ingest": cli("ingest", "--json"),
        "train": cli("train"),
        "push": cli("prompts", "push"),
    }


@pytest.fixture(scope="module")
def api(prepared: dict[str, str], stack_env: Settings) -> Iterator[TestClient]:
    from app.main import create_app

    with TestClient(create_app(stack_env)) as client:
        yield client


def test_init_steps_write_to_the_servers(prepared: dict[str, str], stack_env: Settings, servers: Stack) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    report = json.loads(prepared["ingest"])
    assert report["files_indexed"] == COURSE_FILES and report["chunks_added"] > 0, report
    chroma = chromadb.HttpClient(
        host="127.0.0.1", port=servers.chroma.port, settings=ChromaSettings(anonymized_telemetry=False)
    )
    assert chroma.get_collection(report["collection"]).count() == report["chunks_added"]

    client = mlflow_client(servers)
    assert client.get_model_version_by_alias(stack_env.classic.registered_model, "champion").version == "1"
    assert any((servers.mlflow_root / "artifacts").rglob("MLmodel")), "the model's files went through the server"
    assert [v.version for v in client.search_prompt_versions("rag_answer")], prepared["push"]

    # nothing went to the embedded defaults
    assert not (stack_env.data_dir / "mlflow.db").exists() and not (stack_env.data_dir / "mlartifacts").exists()
    assert not any(Path(stack_env.rag.chroma_dir or "").iterdir())


def test_api_answers_and_predicts_through_the_servers(api: TestClient, servers: Stack, stack_env: Settings) -> None:
    ready = api.get("/ready")
    assert ready.status_code == 200, ready.json()

    body = api.post("/ask", json={"question": QUESTION}).json()
    assert body["mode"] in ("generative", "extractive") and len(body["sources"]) == 2, body
    assert all(s["source"].endswith(".txt") for s in body["sources"])

    stream = api.post("/ask/stream", json={"question": QUESTION})
    assert stream.status_code == 200 and stream.text.count("event: token") >= 1
    assert "event: done" in stream.text

    predicted = api.post("/predict", json=RECORD)
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["model"]["source"] == "registry"

    import httpx

    session = api.app.state.rag.retriever.store.client._server._session  # type: ignore[attr-defined]
    assert session.timeout == httpx.Timeout(stack_env.rag.chroma_timeout_s), "Chroma calls must not wait forever"

    tracer = api.app.state.rag.tracer  # type: ignore[attr-defined]
    assert tracer.flush(timeout_s=30), "the traces of the two answers were not exported"
    experiment = mlflow_client(servers).get_experiment_by_name(stack_env.mlflow.rag_traces_experiment)
    assert experiment is not None
    traces = mlflow_client(servers).search_traces(locations=[experiment.experiment_id], max_results=10)
    assert len(traces) >= 2, "each answer is traced on the MLflow server"


def test_batch_predict_and_eval_log_to_the_servers(api: TestClient, servers: Stack, stack_env: Settings) -> None:
    rows = stack_env.data_dir / "rows.csv"
    rows.write_text(",".join(RECORD) + "\n" + ",".join(str(v) for v in RECORD.values()) + "\n", encoding="utf-8")
    scored = rows.with_suffix(".scored.csv")
    cli("predict", str(rows), "--out", str(scored))
    assert scored.read_text(encoding="utf-8").count("\n") == 2

    run_id = json.loads(cli("eval", "rag", "--limit", "1", "--json"))["run_id"]
    run = mlflow_client(servers).get_run(run_id)
    assert run.data.params["prompt_name"] == "rag_answer" and "hit_at_k" in run.data.metrics
    assert [a.path for a in mlflow_client(servers).list_artifacts(run_id)] == ["per_question.json"]


def test_without_mlflow_predict_and_ask_still_answer(api: TestClient, servers: Stack) -> None:
    servers.mlflow.stop()

    predicted, predict_s = timed(api.post, "/predict", json=RECORD)
    assert predicted.status_code == 200 and predict_s < 5, (predicted.text, predict_s)

    asked, ask_s = timed(api.post, "/ask", json={"question": QUESTION})
    assert asked.status_code == 200 and asked.json()["sources"], asked.text
    tracer = api.app.state.rag.tracer  # type: ignore[attr-defined]
    assert tracer.flush(timeout_s=10), "a trace for a stopped server is dropped, not retried for minutes"

    monitoring, monitoring_s = timed(api.get, "/monitoring/rag")
    assert monitoring.status_code == 200 and monitoring.json()["eval_history"] == [], monitoring.text
    assert monitoring_s < 10, monitoring_s  # MLflow's default retries would take minutes

    reloaded, reload_s = timed(api.post, "/admin/reload", headers={"X-API-Key": ADMIN_KEY})
    assert reloaded.status_code == 200 and reloaded.json()["model"]["source"] == "local", reloaded.text
    assert reload_s < 15, reload_s
    assert api.post("/predict", json=RECORD).status_code == 200


def test_without_chroma_ask_is_a_503_naming_the_vector_store(api: TestClient, servers: Stack) -> None:
    servers.chroma.stop()
    where = f"Chroma server 127.0.0.1:{servers.chroma.port}"

    asked, ask_s = timed(api.post, "/ask", json={"question": QUESTION})
    assert asked.status_code == 503 and where in asked.json()["detail"], asked.text
    assert ask_s < 5, ask_s
    streamed = api.post("/ask/stream", json={"question": QUESTION})
    assert streamed.status_code == 503 and where in streamed.json()["detail"], streamed.text
    ready = api.get("/ready")
    assert ready.status_code == 503 and where in ready.json()["checks"]["rag"], ready.json()
    assert api.post("/predict", json=RECORD).status_code == 200

    servers.chroma.start()  # same port, same data: the API reconnects by itself
    servers.chroma.wait_healthy()
    assert api.get("/ready").json()["checks"]["rag"] == "ready"
    again = api.post("/ask", json={"question": QUESTION, "top_k": 1})
    assert again.status_code == 200 and len(again.json()["sources"]) == 1, again.text
