"""``GET /prompts``, ``/prompts/{name}/diff`` and ``/eval/runs`` on a real MLflow (sqlite in a tmp dir)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from genaiops.settings import Settings
from prompts.loader import TEMPLATES_DIR, load_prompt_file
from prompts.registry import promote, push
from tests.eval.helpers import log_tagged_eval_runs
from tests.prompts.conftest import EDIT
from tests.rag.helpers import closed_port_url
from tests.settings import make_settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, load_rag=False, load_classic=False)) as c:
        yield c


def two_versions(settings: Settings, tmp_path: Path) -> None:
    """Version 1 = the committed file (production), version 2 = a one-line edit of it (candidate)."""
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, folder)
    push(settings, folder)
    path = folder / "rag_answer.yaml"
    path.write_text(path.read_text().replace(*EDIT))
    push(settings, folder)
    promote(settings, "rag_answer", 1, "production")
    promote(settings, "rag_answer", 2, "candidate")


def test_before_any_push_the_files_are_listed_and_nothing_is_created(client: TestClient, settings: Settings) -> None:
    store = Path(str(settings.mlflow.tracking_uri).removeprefix("sqlite:///"))
    [prompt] = client.get("/prompts").json()
    file_prompt = load_prompt_file("rag_answer")
    assert prompt["name"] == "rag_answer" and prompt["source"] == "file"
    [version] = prompt["versions"]
    assert version["version"] == file_prompt.version and version["aliases"] == []
    assert file_prompt.template.system.splitlines()[0] in version["template"]
    assert client.get("/eval/runs").json() == []
    diff = client.get("/prompts/rag_answer/diff", params={"v1": 1, "v2": 2})
    assert diff.status_code == 404 and "genaiops prompts push" in diff.json()["detail"]
    assert not store.exists()  # reading must not create an empty MLflow database


def test_versions_aliases_and_diff_from_the_registry(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    two_versions(settings, tmp_path)
    [prompt] = client.get("/prompts").json()
    assert prompt["source"] == "registry"
    assert [(v["version"], v["aliases"]) for v in prompt["versions"]] == [("2", ["candidate"]), ("1", ["production"])]
    assert all(v["commit"] and v["created"] for v in prompt["versions"])

    body = client.get("/prompts/rag_answer/diff", params={"v1": 1, "v2": 2}).json()
    assert (body["name"], body["v1"], body["v2"]) == ("rag_answer", "1", "2")
    lines = body["diff"].splitlines()
    assert lines[:2] == ["--- rag_answer@1", "+++ rag_answer@2"]
    removed, added = [line for line in lines if line.startswith(("-", "+")) and line[1:2] not in "-+"]
    assert removed.startswith("-") and EDIT[0] in removed and added == "+" + removed[1:].replace(*EDIT)


def test_diff_errors_name_what_is_wrong(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    two_versions(settings, tmp_path)
    unknown = client.get("/prompts/rag_answer/diff", params={"v1": 1, "v2": 9})
    assert unknown.status_code == 404 and "no version 9" in unknown.json()["detail"]
    other = client.get("/prompts/nope/diff", params={"v1": 1, "v2": 2})
    assert other.status_code == 404 and "'nope'" in other.json()["detail"]
    bad = client.get("/prompts/rag_answer/diff", params={"v1": 0, "v2": 2})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "v1"]


def test_eval_runs_newest_first_with_the_prompt_they_scored(client: TestClient, settings: Settings) -> None:
    """Runs written the way ``eval.tracking.log_eval_run`` tags them (its own tests run the real eval)."""
    log_tagged_eval_runs(settings, {"1": {"context_recall": 0.5}, "2": {"context_recall": 0.75}})
    runs = client.get("/eval/runs", params={"limit": 5}).json()
    assert [(r["prompt"], r["metrics"]) for r in runs] == [
        ("rag_answer@2", {"context_recall": 0.75}),
        ("rag_answer@1", {"context_recall": 0.5}),
    ]
    assert client.get("/eval/runs", params={"limit": 1}).json()[0]["prompt"] == "rag_answer@2"
    assert client.get("/eval/runs", params={"limit": 0}).status_code == 422


def test_a_tracking_server_that_is_down_is_a_503_for_runs_and_files_for_prompts(tmp_path: Path) -> None:
    down = make_settings(tmp_path / "var", mlflow={"tracking_uri": closed_port_url()})
    with TestClient(create_app(down, load_rag=False, load_classic=False)) as client:
        runs = client.get("/eval/runs")
        assert runs.status_code == 503 and "unreachable" in runs.json()["detail"]
        assert [p["source"] for p in client.get("/prompts").json()] == ["file"]
        diff = client.get("/prompts/rag_answer/diff", params={"v1": 1, "v2": 2})
        assert diff.status_code == 503 and "unreachable" in diff.json()["detail"]
