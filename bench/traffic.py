"""Traffic simulator: watch the monitors fire on a running API (loopback only, bounded counts).

    genaiops serve &                      # or make run
    python -m bench.traffic --predictions 400 --asks 40 --labels-out labels.csv
    genaiops retrain --if-drift --labels labels.csv

Phase 1 sends penguins drawn from the training data to ``/predict``, phase 2 the same penguins with
longer bills and flippers and heavier bodies; ``/monitoring/classic`` is read after each phase (window
= one phase) and should go from ``ok`` to ``drift``. Phase 3 asks golden in-scope questions, phase 4
off-topic ones (with a thumbs-down on each answer), then ``/monitoring/rag`` should say ``regression``.
``--labels-out`` writes the true species of the drifted requests, ready for ``genaiops retrain``.
Not a ``bench_*`` module: ``python -m bench`` does not run it (it needs a running API).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pandas as pd

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_PREDICTIONS, MAX_ASKS = 5000, 200
FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
SHIFT = {"bill_length_mm": 6.0, "flipper_length_mm": 15.0, "body_mass_g": 600.0}
OFF_TOPIC = [
    "Quelle est la recette du bœuf bourguignon ?",
    "Combien de joueurs compte une équipe de rugby ?",
    "Quel temps fera-t-il à Lyon ce week-end ?",
    "Comment planter des tomates sur un balcon ?",
    "Who painted the Mona Lisa?",
]


def penguins(rows: int, seed: int, shifted: bool) -> pd.DataFrame:
    """``rows`` penguins from the packaged data (with replacement when more are asked than exist)."""
    from palmerpenguins import load_penguins

    data = load_penguins().dropna(subset=FEATURES)
    sample = data.sample(rows, random_state=seed, replace=rows > len(data)).reset_index(drop=True)
    if shifted:
        for column, delta in SHIFT.items():
            sample[column] = sample[column] + delta
    return sample


def send_predictions(client: httpx.Client, frame: pd.DataFrame, prefix: str, batch: int) -> list[dict[str, Any]]:
    """POST the rows in batches; returns label rows (request_id, row_index, species) for what was served."""
    labels = []
    for start in range(0, len(frame), batch):
        chunk = frame.iloc[start : start + batch]
        request_id = f"{prefix}-{start}"
        body = chunk[FEATURES].astype(object).where(chunk[FEATURES].notna(), None).to_dict("records")
        response = client.post("/predict", json=body, headers={"X-Request-ID": request_id})
        response.raise_for_status()
        labels += [{"request_id": request_id, "row_index": i, "species": s} for i, s in enumerate(chunk["species"])]
    return labels


def send_asks(client: httpx.Client, questions: list[str], thumbs_down: bool) -> int:
    """Ask each question (and rate it down if told); returns how many were answered."""
    answered = 0
    for question in questions:
        response = client.post("/ask", json={"question": question}, timeout=300)
        if response.status_code != 200:
            print(f"  /ask answered {response.status_code}: {response.text[:200]}", file=sys.stderr)
            return answered
        answered += 1
        if thumbs_down:
            client.post("/feedback", json={"request_id": response.json()["request_id"], "rating": "down"})
    return answered


def status(client: httpx.Client, side: str, window: int) -> str:
    response = client.get(f"/monitoring/{side}", params={"window": window}, timeout=300)
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    body = response.json()
    if side == "classic" and body["current"]:
        drifted = [f["name"] for f in body["current"]["features"] if f["drifted"]]
        return f"{body['status']} (share drifted {body['current']['share_drifted']:.2f}: {drifted})"
    if side == "rag" and body["checks"]:
        return f"{body['status']} (regressed: {[c['name'] for c in body['checks'] if c['regressed']]})"
    return str(body["status"])


def golden_questions(kind: str = "in_scope") -> list[str]:
    """The golden set's questions of one kind (in_scope, out_of_scope, injection)."""
    from eval.golden import load_golden

    return [item.question for item in load_golden() if item.kind == kind]


def run_traffic(client: httpx.Client, predictions: int, asks: int, batch: int = 10) -> dict[str, Any]:
    """The four phases against ``client``; returns the statuses seen and the labels of the drifted traffic."""
    half = max(10, predictions // 2)
    out: dict[str, Any] = {"labels": []}
    if predictions:
        send_predictions(client, penguins(half, seed=1, shifted=False), "calm", batch)
        out["classic_after_calm"] = status(client, "classic", half)
        out["labels"] = send_predictions(client, penguins(half, seed=2, shifted=True), "drifted", batch)
        out["classic_after_drift"] = status(client, "classic", half)
    if asks:
        per_phase = max(10, asks // 2)
        in_scope = (golden_questions() * 5)[:per_phase]
        off_topic = (OFF_TOPIC * (per_phase // len(OFF_TOPIC) + 1))[:per_phase]
        if send_asks(client, in_scope, thumbs_down=False) == per_phase:
            send_asks(client, off_topic, thumbs_down=True)
        out["rag_after_off_topic"] = status(client, "rag", per_phase)
    return out


def loopback_client(url: str) -> httpx.Client:
    host = urlparse(url).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"refusing to send traffic to {url}: only a local API ({', '.join(sorted(LOOPBACK))})")
    return httpx.Client(base_url=url, timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Send normal then drifted traffic to a local genaiops API.")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--predictions", type=int, default=400, help=f"records in all (<= {MAX_PREDICTIONS})")
    parser.add_argument("--asks", type=int, default=40, help=f"questions in all (<= {MAX_ASKS}); 0 to skip")
    parser.add_argument("--batch", type=int, default=10, help="records per /predict call")
    parser.add_argument("--labels-out", type=Path, help="CSV of the drifted requests' true labels")
    args = parser.parse_args(argv)
    if not (0 <= args.predictions <= MAX_PREDICTIONS and 0 <= args.asks <= MAX_ASKS and args.batch >= 1):
        parser.error(f"--predictions 0..{MAX_PREDICTIONS}, --asks 0..{MAX_ASKS}, --batch >= 1")
    with loopback_client(args.url) as client:
        result = run_traffic(client, args.predictions, args.asks, args.batch)
    for key, value in result.items():
        if key != "labels":
            print(f"{key}: {value}")
    if args.labels_out and result["labels"]:
        pd.DataFrame(result["labels"]).to_csv(args.labels_out, index=False)
        print(f"labels of {len(result['labels'])} drifted records -> {args.labels_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
