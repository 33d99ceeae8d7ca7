"""Many users at once against the real app under uvicorn, with a slow fake model (the real one is not the point).

Behaviour, not speed: a saturated model never makes ``/health`` or ``/predict`` wait for it; beyond
the queue a question gets a quick 429 with ``Retry-After`` instead of hanging; SIGTERM with streams
in flight ends them with an ``error`` event, flushes the logs and exits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from genaiops.settings import Settings
from rag.fake_llm import FakeChatModel
from rag.retrieval import HybridRetriever
from tests.app.product import fake_service, product_settings
from tests.classic_ml.helpers import RECORD, sharing_registry, trained_penguins
from tests.rag.helpers import FR_QUESTION
from tests.ui.helpers import ServerThread, free_port

pytestmark = pytest.mark.slow
REPLY = " ".join(f"Evidently{i}" for i in range(40))  # streamed piece by piece once the model is let go


def _stream(url: str, results: list[tuple[int, float, str]]) -> None:
    """One streaming client: (status, seconds to the status line, last event name)."""
    started = time.monotonic()
    with httpx.stream("POST", f"{url}/ask/stream", json={"question": FR_QUESTION}, timeout=60) as response:
        status_at = time.monotonic() - started
        if response.status_code != 200:
            response.read()
        last = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                last = line.removeprefix("event: ")
        results.append((response.status_code, status_at, last if response.status_code == 200 else response.text))


def test_health_and_predict_answer_while_the_model_is_saturated(
    course_index: tuple[Settings, HybridRetriever], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    base, retriever = course_index
    registry, _ = trained_penguins(tmp_path_factory)
    classic = sharing_registry(registry, tmp_path / "var")
    settings = product_settings(base, tmp_path).model_copy(
        update={"mlflow": classic.mlflow, "classic": classic.classic}
    )
    settings.llm.max_queue, settings.llm.service_time_s, settings.llm.max_wait_s = 2, 6.0, 60.0
    busy = threading.Event()  # the model generates nothing until the checks below are done
    service = fake_service(settings, retriever, FakeChatModel(default=REPLY, delay_s=0.01, hold=busy))
    port = free_port()
    server = ServerThread(create_app(settings, rag_service=service), port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        results: list[tuple[int, float, str]] = []
        clients = [threading.Thread(target=_stream, args=(url, results)) for _ in range(8)]
        for client in clients:
            client.start()
        with httpx.Client(base_url=url, timeout=5.0) as http:  # a hang would be a timeout here
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # saturated: one generating, two waiting (the rest refused)
                load = http.get("/ready").json()["llm"]
                if (load["active"], load["waiting"]) == (1, 2):
                    break
                time.sleep(0.05)
            assert (load["active"], load["waiting"]) == (1, 2), load
            for _ in range(5):
                assert http.get("/health").status_code == 200
                assert http.post("/predict", json=RECORD).status_code == 200
            metrics = http.get("/metrics").text
            while time.monotonic() < deadline and len(results) < 5:  # every client beyond the queue is answered
                time.sleep(0.05)
        busy.set()
        for client in clients:
            client.join(60)
    finally:
        busy.set()
        server.stop()
    refused = [r for r in results if r[0] == 429]
    answered = [r for r in results if r[0] == 200]
    assert len(answered) == 3 and all(last == "done" for _, _, last in answered)
    assert len(refused) == 5 and all(at < 5 for _, at, _ in refused)  # refused at once, not after a wait
    assert all("retry in" in body for *_, body in refused)
    assert "genaiops_llm_rejections_total" in metrics and "genaiops_llm_queue_depth" in metrics


SERVE_SCRIPT = """
import sys
from genaiops.settings import Settings
from app.main import create_app
from app.server import run_api
from rag.fake_llm import FakeChatModel
from rag.service import build_rag_service
from rag.tracing import NullTracer

settings = Settings.model_validate_json(open(sys.argv[1]).read())
fake = FakeChatModel(default=" ".join(f"Evidently{i}" for i in range(400)), delay_s=0.05, parallel=4)
service = build_rag_service(settings, chat_model=fake, tracer=NullTracer())
run_api(create_app(settings, load_classic=False, rag_service=service), settings, "127.0.0.1", int(sys.argv[2]))
"""


def test_sigterm_with_generations_in_flight_exits_quickly_and_loses_nothing(
    course_index: tuple[Settings, HybridRetriever], tmp_path: Path
) -> None:
    base, _ = course_index
    settings = product_settings(base, tmp_path)
    settings.llm.parallel = 4
    (tmp_path / "settings.json").write_text(settings.model_dump_json())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    server = subprocess.Popen([sys.executable, "-c", SERVE_SCRIPT, str(tmp_path / "settings.json"), str(port)], env=env)
    try:
        _wait_healthy(url, server)
        refusal = httpx.post(f"{url}/ask", json={"question": "Donne-moi une recette de crêpes"}, timeout=30)
        assert refusal.status_code == 200  # answered before the signal: must reach the ask log
        results: list[tuple[int, float, str]] = []
        clients = [threading.Thread(target=_stream, args=(url, results)) for _ in range(4)]
        for client in clients:
            client.start()
        time.sleep(2.0)  # four generations in flight, token by token
        signalled = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(20)
        exited_after = time.monotonic() - signalled
        for client in clients:
            client.join(10)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode is not None and exited_after <= 10
    assert len(results) == 4 and all(status == 200 and last == "error" for status, _, last in results)
    from rag.ask_log import read_asks

    logged = read_asks(settings, limit=10)
    assert refusal.json()["request_id"] in set(logged["request_id"])


def _wait_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "the API exited at start-up"
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(json.dumps({"not healthy": url}))
