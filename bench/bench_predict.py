"""/predict throughput and latency against ``mlflow models serve``, and batch scoring against raw predict.

One run trains the penguins model into a fresh sqlite registry, then starts on free 127.0.0.1 ports
our API (uvicorn, classic side only, prediction log on) and ``mlflow models serve --env-manager local``
on the same ``models:/classic-model@champion``. Both get the same load tool (httpx clients in a bounded
thread pool, bounded request count and time) for single records and batches of 100, in alternating
rounds. Targets: >= 2x mlflow's requests/s for single records; batch scoring (the ``genaiops predict``
path) >= 0.8x the rows/s of a bare ``pipeline.predict`` on the same frame.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from bench.report import machine, percentiles, table, write_section
from genaiops.settings import REPO_ROOT, Settings

CONCURRENCY = 4
ROUNDS = 2
SINGLE = {"requests": 3000, "seconds": 15.0}
BATCH = {"requests": 300, "seconds": 15.0}
BATCH_SIZE = 100
SCORING_ROWS = 100_000
RECORD = {
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 15.0,
    "flipper_length_mm": 217.0,
    "body_mass_g": 5200.0,
    "sex": "male",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A server in its own process group (so stopping it stops its children too)."""
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout_s}s: {log.read_text()[-2000:]}")


def load(url: str, payload: Any, requests: int, seconds: float) -> dict[str, float]:
    """Send ``payload`` from CONCURRENCY threads until ``requests`` are done or ``seconds`` elapsed."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    counter = iter(range(requests))

    def worker() -> None:
        nonlocal errors
        with httpx.Client(timeout=30) as client:
            client.post(url, json=payload)  # warm the connection
            for _ in counter:
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                response = client.post(url, json=payload)
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for future in [pool.submit(worker) for _ in range(CONCURRENCY)]:
            future.result()
    elapsed = time.perf_counter() - started
    p50, p99 = percentiles(latencies)
    return {"rps": len(latencies) / elapsed, "p50": p50, "p99": p99, "n": len(latencies), "errors": errors}


def serve_both(settings: Settings, tmp: Path) -> tuple[dict[str, str], list[subprocess.Popen]]:
    ours_port, mlflow_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENAIOPS_", "MLFLOW_TRACKING"))}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # mlflow execs `uvicorn`
        "GENAIOPS_DATA_DIR": str(settings.data_dir),
        "GENAIOPS_MLFLOW__TRACKING_URI": settings.mlflow.tracking_uri or "",
        "GENAIOPS_MLFLOW__ARTIFACT_LOCATION": settings.mlflow.artifact_location or "",
        "GENAIOPS_LOG_LEVEL": "WARNING",
    }
    code = (
        "import uvicorn; from app.main import create_app; from genaiops.settings import get_settings; "
        f"uvicorn.run(create_app(get_settings(), load_rag=False), host='127.0.0.1', port={ours_port}, "
        "log_level='warning', access_log=False)"
    )
    ours = start([sys.executable, "-c", code], env, tmp / "ours.log")
    mlflow_env = env | {"MLFLOW_TRACKING_URI": settings.mlflow.tracking_uri or ""}
    mlflow_cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/classic-model@champion"]
    mlflow_cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port)]
    theirs = start(mlflow_cmd, mlflow_env, tmp / "mlflow.log")
    procs = [ours, theirs]
    try:
        wait_ready(f"http://127.0.0.1:{ours_port}/predict/schema", ours, tmp / "ours.log")
        wait_ready(f"http://127.0.0.1:{mlflow_port}/ping", theirs, tmp / "mlflow.log")
    except Exception:
        for proc in procs:
            stop(proc)
        raise
    urls = {"ours": f"http://127.0.0.1:{ours_port}/predict", "mlflow": f"http://127.0.0.1:{mlflow_port}/invocations"}
    return urls, procs


def http_figures(urls: dict[str, str]) -> dict[str, dict[str, dict[str, float]]]:
    """Alternating rounds per scenario; throughput averaged over rounds, latencies from all requests."""
    batch = [{**RECORD, "bill_length_mm": 35.0 + i % 25} for i in range(BATCH_SIZE)]
    payloads = {
        "single": {"ours": RECORD, "mlflow": {"dataframe_records": [RECORD]}},
        f"batch of {BATCH_SIZE}": {"ours": batch, "mlflow": {"dataframe_records": batch}},
    }
    agree = httpx.post(urls["ours"], json=RECORD).json()["predictions"][0]["prediction"]
    assert httpx.post(urls["mlflow"], json=payloads["single"]["mlflow"]).json()["predictions"] == [agree]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for scenario, bodies in payloads.items():
        limits = SINGLE if scenario == "single" else BATCH
        runs: dict[str, list[dict[str, float]]] = {"ours": [], "mlflow": []}
        for r in range(ROUNDS):
            for server in ("ours", "mlflow") if r % 2 == 0 else ("mlflow", "ours"):
                runs[server].append(load(urls[server], bodies[server], **limits))
        out[scenario] = {
            server: {
                "rps": float(np.mean([x["rps"] for x in rs])),
                "p50": float(np.median([x["p50"] for x in rs])),
                "p99": float(np.max([x["p99"] for x in rs])),
                "n": sum(x["n"] for x in rs),
                "errors": sum(x["errors"] for x in rs),
            }
            for server, rs in runs.items()
        }
    return out


def median_time(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def scoring_figures(settings: Settings, tmp: Path) -> dict[str, float]:
    """rows/s of the batch path vs a bare pipeline.predict, interleaved on the same in-memory frame."""
    from palmerpenguins import load_penguins

    from classic_ml.batch import score_file
    from classic_ml.registry import load_for_serving
    from classic_ml.scoring import Scorer
    from classic_ml.validate import validate

    model = load_for_serving(settings)
    assert model is not None
    raw = load_penguins()
    frame = pd.concat([raw] * (SCORING_ROWS // len(raw) + 1), ignore_index=True).head(SCORING_ROWS)
    scorer = Scorer(model)
    scorer.predict_frame(frame.head(100))
    ours, bare = [], []
    for _ in range(9):  # interleaved so background load hits both alike
        ours.append(median_time(lambda: scorer.predict_frame(frame), 1))
        bare.append(median_time(lambda: model.pipeline.predict(frame), 1))
    csv = tmp / "rows.csv"
    frame.to_csv(csv, index=False)
    file_s = median_time(lambda: score_file(model, csv, tmp / "scored.csv"), 2)
    pandera_s = median_time(lambda: validate(frame, model.schema), 2)
    n = len(frame)
    return {
        "ours": n / float(np.median(ours)),
        "raw": n / float(np.median(bare)),
        "best_ratio": min(bare) / min(ours),
        "file": n / file_s,
        "pandera": n / pandera_s,
        "rows": n,
    }


def report(http: dict[str, dict[str, dict[str, float]]], scoring: dict[str, float]) -> str:
    rows = []
    for scenario, servers in http.items():
        for server in ("ours", "mlflow"):
            s = servers[server]
            name = "genaiops /predict" if server == "ours" else "mlflow models serve"
            rows.append(
                [
                    scenario,
                    name,
                    f"{s['rps']:,.0f}",
                    f"{s['p50']:.1f}",
                    f"{s['p99']:.1f}",
                    int(s["n"]),
                    int(s["errors"]),
                ]
            )
    single = http["single"]["ours"]["rps"] / http["single"]["mlflow"]["rps"]
    batch = http[f"batch of {BATCH_SIZE}"]["ours"]["rps"] / http[f"batch of {BATCH_SIZE}"]["mlflow"]["rps"]
    ratio = scoring["ours"] / scoring["raw"]
    return "\n\n".join(
        [
            "## Classic model serving and batch scoring (bench_predict)",
            machine(),
            f"Penguins LogisticRegression pipeline from `models:/classic-model@champion`; both servers are one uvicorn "
            f"worker on 127.0.0.1, loaded by {CONCURRENCY} httpx clients in threads on the same machine, "
            f"{ROUNDS} alternating rounds per scenario (requests/s averaged; p50 = median of rounds, p99 = worst).",
            table(["payload", "server", "requests/s", "p50 ms", "p99 ms", "requests", "errors"], rows),
            f"**Single records: {single:.1f}x the requests/s of mlflow models serve** (target >= 2x); "
            f"batches of {BATCH_SIZE}: {batch:.1f}x. Our figures include validation against the schema-built request "
            "model, unknown-category/range flags, class probabilities and the background prediction-log write.",
            table(
                ["batch scoring, rows/s", f"{int(scoring['rows']):,} rows"],
                [
                    [
                        "`Scorer.predict_frame` (the genaiops predict path)",
                        f"{scoring['ours']:,.0f}",
                    ],
                    ["bare `pipeline.predict` (baseline)", f"{scoring['raw']:,.0f}"],
                    ["`genaiops predict` end to end (CSV read + write)", f"{scoring['file']:,.0f}"],
                    [
                        "pandera `validate()` on the model schema (not in that path)",
                        f"{scoring['pandera']:,.0f}",
                    ],
                ],
            ),
            f"**Batch scoring: {ratio:.2f}x bare `pipeline.predict`** (target >= 0.8x; median of 9 interleaved runs; "
            f"best run against best run: {scoring['best_ratio']:.2f}x). On this shared 2-core machine the spread "
            "between runs is large: the load average above says how busy it was.",
        ]
    )


def main() -> None:
    from classic_ml.pipeline import run_training

    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "var"
        mlflow = {
            "tracking_uri": f"sqlite:///{data / 'mlflow.db'}",
            "artifact_location": (data / "mlartifacts").as_uri(),
        }
        settings = Settings(_env_file=None, env="test", data_dir=data, mlflow=mlflow)  # type: ignore[call-arg]
        run_training(settings, REPO_ROOT / "classic_ml" / "configs" / "penguins.yaml")
        scoring = scoring_figures(settings, tmp)
        urls, procs = serve_both(settings, tmp)
        try:
            http = http_figures(urls)
        finally:
            for proc in procs:
                stop(proc)
    text = report(http, scoring)
    write_section("predict", text)
    print(text)


if __name__ == "__main__":
    main()
