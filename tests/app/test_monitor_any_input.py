"""A monitor no input can break (issue 15): impossible numbers are a 422 naming the field, and whatever the
prediction log holds, ``GET /monitoring/classic`` and ``GET /monitoring/rag`` answer 200 and say what they saw.

Real registry (the session's penguins model), real prediction log (sqlite), real Evidently, real MLflow for the
HTML report; the fuzzed records come from schemathesis reading the app's own OpenAPI document.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from classic_ml.drift import classic_drift
from classic_ml.prediction_log import PredictionLog, log_rows, make_engine
from genaiops.settings import Settings
from tests.classic_ml.helpers import RECORD, sharing_registry, trained_penguins

pytestmark = pytest.mark.slow
ISSUE_FLIPPER = -3.97e248  # the fuzzed value of the issue
CONTROL_ISLAND = "Bis\x00co\x1b[31me\x7f\n\t\u200b"  # an island named with control characters


@pytest.fixture
def served(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    registry, _ = trained_penguins(tmp_path_factory)
    settings = sharing_registry(registry, tmp_path / "var")
    with TestClient(create_app(settings, load_rag=False)) as client:
        yield client, settings


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("flipper_length_mm", ISSUE_FLIPPER),
        ("flipper_length_mm", -1.0),  # checks: min 0
        ("bill_depth_mm", -0.0001),
        ("body_mass_g", 1e9),  # a ton of penguin: beyond the training range widened by the margin
        ("bill_length_mm", 1.7e308),
    ],
)
def test_impossible_numbers_are_a_422_naming_the_field(served, field: str, value: float) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    response = client.post("/predict", json=[RECORD, {**RECORD, field: value}])
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", 1, field] and "than or equal to" in error["msg"]


def test_out_of_the_training_range_but_possible_is_accepted_with_a_warning(served) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    response = client.post("/predict", json={**RECORD, "body_mass_g": 9000.0, "flipper_length_mm": 0.0})
    assert response.status_code == 200
    warnings = response.json()["predictions"][0]["warnings"]
    assert len(warnings) == 2 and any("body_mass_g=9000 is outside the training range" in w for w in warnings)
    schema = {f["name"]: f for f in client.get("/predict/schema").json()["fields"]}
    assert schema["flipper_length_mm"]["limit_min"] == 0.0 and schema["body_mass_g"]["limit_max"] > 9000
    spec = client.get("/openapi.json").json()["components"]["schemas"]["PredictRecord"]["properties"]
    number = spec["flipper_length_mm"].get("anyOf", [spec["flipper_length_mm"]])[0]  # anyOf: nullable
    assert number["minimum"] == 0.0  # the contract says it, so clients (and fuzzers) know


def test_the_records_of_the_issue(served) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    refused = client.post("/predict", json={**RECORD, "flipper_length_mm": ISSUE_FLIPPER})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "flipper_length_mm"]

    odd = client.post("/predict", json=[RECORD] * 5 + [{**RECORD, "island": CONTROL_ISLAND}] * 5)
    assert odd.status_code == 200 and odd.json()["predictions"][-1]["unknown_categories"] == ["island"]
    classic = client.get("/monitoring/classic", params={"window": 10})
    assert classic.status_code == 200, classic.text
    current = classic.json()["current"]
    assert current["rows"] == 10 and current["input_issues"]["unknown_category_share"]["island"] == 0.5
    assert "island" in current["input_issues"]["flagged"] and current["drift_detected"] is True
    assert classic.json()["report_uri"].startswith("runs:/")  # the HTML report of that full window was made too
    assert client.get("/monitoring/rag").status_code == 200


def _result(prediction: Any) -> dict[str, Any]:
    return {"prediction": prediction, "probabilities": None, "unknown_categories": []}


def _log(settings: Settings, windows: list[tuple[list[dict[str, Any]], Any]]) -> None:
    """Rows written straight to the log, as a model served before limits existed (or any writer) left them."""
    log = PredictionLog(make_engine(settings.database_url or ""), settings.classic.prediction_log_table)
    for index, (records, prediction) in enumerate(windows):
        log.append(log_rows(f"w{index}", "classic-model", "1", records, [_result(prediction)] * len(records)))
    log.close()


HOSTILE_WINDOWS: list[tuple[list[dict[str, Any]], Any]] = [
    ([{**RECORD, "flipper_length_mm": ISSUE_FLIPPER}] * 10, "Adelie"),  # one class, an absurd magnitude
    ([{**RECORD, "body_mass_g": 1.7e308 * (i % 2), "bill_depth_mm": -1e308} for i in range(10)], "Gentoo"),
    ([{**RECORD, "island": f"{CONTROL_ISLAND}{i}"} for i in range(10)], "Chinstrap"),  # every island unknown
    ([{**RECORD, "island": None, "sex": None, "bill_length_mm": None} for _ in range(10)], "Adelie"),
    ([{**RECORD, "bill_length_mm": math.nan, "flipper_length_mm": math.inf} for _ in range(10)], "Gentoo"),
    ([{**RECORD, "bill_length_mm": "long", "island": 3, "sex": ["?"]} for _ in range(10)], None),
    ([{**RECORD, "body_mass_g": 5e-324} for _ in range(10)], "Emperor"),  # a class the model does not know
]


def test_whatever_the_log_holds_the_drift_summary_and_its_report_answer(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    registry, _ = trained_penguins(tmp_path_factory)
    settings = sharing_registry(registry, tmp_path / "var")
    _log(settings, HOSTILE_WINDOWS)

    summary = classic_drift(settings, window=10, log_report=True)  # every window, and the last one's HTML report

    assert [w["index"] for w in summary["windows"]] == list(range(len(HOSTILE_WINDOWS)))
    assert summary["report_uri"] is not None and summary["report_uri"].startswith("runs:/")
    issues = [w["input_issues"] for w in summary["windows"]]
    assert issues[0]["invalid_number_share"]["flipper_length_mm"] == 1.0
    assert issues[1]["invalid_number_share"]["bill_depth_mm"] == 1.0
    assert issues[2]["unknown_category_share"]["island"] == 1.0 and issues[2]["flagged"] == ["island"]
    assert issues[3]["flagged"] == []  # missing values are not unknown categories
    assert issues[4]["invalid_number_share"]["flipper_length_mm"] == 1.0  # inf; a NaN reads as missing
    assert issues[5]["unknown_category_share"]["island"] == 1.0
    for window in summary["windows"]:
        assert {f["name"] for f in window["features"]} == {f["name"] for f in summary["windows"][0]["features"]}
        for feature in window["features"]:
            assert feature["score"] is None or math.isfinite(feature["score"])
    untested = {f["name"]: f for f in summary["windows"][2]["features"]}["island"]
    assert untested["test"] is None and untested["drifted"] is False  # no known island left to test

    with TestClient(create_app(settings, load_rag=False)) as client:
        assert client.get("/monitoring/classic", params={"window": 10}).status_code == 200
        assert client.get("/monitoring/classic").status_code == 200  # default window: one partial window
        assert client.get("/monitoring/rag").status_code == 200


def test_a_time_window_of_one_row(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    registry, _ = trained_penguins(tmp_path_factory)
    settings = sharing_registry(registry, tmp_path / "var")
    _log(settings, [([{**RECORD, "island": CONTROL_ISLAND}], "Adelie")])
    summary = classic_drift(settings, period="1D", log_report=True)
    assert summary["current"]["rows"] == 1 and summary["current"]["input_issues"]["flagged"] == ["island"]


def test_fuzzed_records_never_break_either_monitor(served) -> None:  # type: ignore[no-untyped-def]
    """schemathesis generates /predict bodies from the served OpenAPI document (valid ones must be
    answered 200, invalid ones 422, never 500); both monitors then answer 200 over what was logged."""
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from schemathesis.generation import GenerationMode

    client, settings = served
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    operation = schema["/predict"]["POST"]
    statuses: dict[str, list[int]] = {"positive": [], "negative": []}

    def replay(mode: GenerationMode, examples: int) -> None:
        @hypothesis_settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,  # the same records on every run
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def send(case: Any) -> None:
            if isinstance(case.body, bytes | str):  # negative cases may send a body that is not JSON at all
                headers = {"Content-Type": case.media_type or "application/json"}
                response = client.post("/predict", content=case.body, headers=headers)
            else:
                response = client.post("/predict", json=case.body)
            statuses[mode.value].append(response.status_code)
            assert response.status_code < 500, (case.body, response.text)
            if mode == GenerationMode.POSITIVE:
                assert response.status_code == 200, (case.body, response.text)

        send()

    replay(GenerationMode.POSITIVE, 60)
    replay(GenerationMode.NEGATIVE, 40)

    assert len(statuses["positive"]) >= 30 and 422 in statuses["negative"]
    for window in (10, None):
        params = {"window": window} if window else {}
        classic = client.get("/monitoring/classic", params=params)
        assert classic.status_code == 200, classic.text
        assert classic.json()["status"] in {"ok", "drift"}
    assert client.get("/monitoring/rag").status_code == 200


@pytest.mark.postgres
def test_the_records_of_the_issue_on_postgres(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """The production log: an island with control characters (a NUL among them) is logged and monitored."""
    from classic_ml.prediction_log import read_predictions
    from tests.classic_ml.helpers import fresh_postgres_database, require_postgres

    require_postgres()
    registry, _ = trained_penguins(tmp_path_factory)
    with fresh_postgres_database() as url:
        settings = sharing_registry(registry, tmp_path / "var", database_url=url)
        with TestClient(create_app(settings, load_rag=False)) as client:
            assert client.post("/predict", json={**RECORD, "flipper_length_mm": ISSUE_FLIPPER}).status_code == 422
            odd = client.post("/predict", json=[RECORD] * 5 + [{**RECORD, "island": CONTROL_ISLAND}] * 5)
            assert odd.status_code == 200
            classic = client.get("/monitoring/classic", params={"window": 10})
            assert classic.status_code == 200, classic.text
            assert classic.json()["current"]["input_issues"]["flagged"] == ["island"]
            assert client.get("/monitoring/rag").status_code == 200
        logged = read_predictions(settings)
        assert len(logged) == 10 and (logged["island"] == CONTROL_ISLAND).sum() == 5
