"""Loading the model for serving: registry first, the local copy when the registry is unreachable, 503 without any."""

from __future__ import annotations

import logging
import shutil
import socket
from pathlib import Path

import pytest

from classic_ml.registry import local_champion_dir
from classic_ml.serving import ModelUnavailableError, build_classic_service
from tests.classic_ml.helpers import RECORD, sharing_registry
from tests.settings import make_settings

pytestmark = pytest.mark.slow


def test_serves_the_champion_from_the_registry(penguins, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    registry, result = penguins
    service = build_classic_service(sharing_registry(registry, tmp_path))
    try:
        assert service.readiness() == "ready"
        assert service.state.ref.source == "registry" and service.state.ref.version == result.version
        assert local_champion_dir(service.settings).joinpath("model_info.json").is_file()  # fallback refreshed
    finally:
        service.close()


def test_falls_back_to_the_local_copy_when_the_registry_is_unreachable(penguins, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    registry, result = penguins
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    settings = make_settings(tmp_path / "var", mlflow={"tracking_uri": f"sqlite:///{blocker}/mlflow.db"})
    shutil.copytree(local_champion_dir(registry), local_champion_dir(settings))
    with caplog.at_level(logging.WARNING, logger="classic_ml.registry"):
        service = build_classic_service(settings)
    try:
        assert service.state.ref.source == "local" and service.state.ref.version == result.version
        assert "registry unreachable" in caplog.text and "serving the last local model" in caplog.text
        answer = service.predict(service.parse(RECORD))
        assert answer["predictions"][0]["prediction"] == "Gentoo"
    finally:
        service.close()


def _dead_url() -> str:
    """An MLflow server URL nothing listens on (connection refused, as for a stopped server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_dead_tracking_server_falls_back_to_the_local_copy_or_to_no_model(penguins, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """The production setting (an MLflow server URL) with the server down: the last local champion, else a 503."""
    registry, result = penguins
    dead = {"tracking_uri": _dead_url(), "http_max_retries": 0, "http_timeout_s": 5}
    bare = make_settings(tmp_path / "bare", mlflow=dead)
    with caplog.at_level(logging.WARNING, logger="classic_ml.registry"):
        service = build_classic_service(bare)
    try:
        assert "registry unreachable" in caplog.text and "no local copy" in caplog.text
        with pytest.raises(ModelUnavailableError, match="genaiops train"):
            service.parse(RECORD)
    finally:
        service.close()

    caplog.clear()
    settings = make_settings(tmp_path / "var", mlflow=dead)
    shutil.copytree(local_champion_dir(registry), local_champion_dir(settings))
    with caplog.at_level(logging.WARNING, logger="classic_ml.registry"):
        service = build_classic_service(settings)
    try:
        assert service.state.ref.source == "local" and service.state.ref.version == result.version
        assert dead["tracking_uri"] in caplog.text and "serving the last local model" in caplog.text
        assert service.predict(service.parse(RECORD))["predictions"][0]["prediction"] == "Gentoo"
    finally:
        service.close()


def test_without_any_model_the_service_starts_and_says_how_to_get_one(tmp_path: Path) -> None:
    service = build_classic_service(make_settings(tmp_path / "var"))
    try:
        assert "genaiops train" in service.readiness()
        with pytest.raises(ModelUnavailableError, match="genaiops train"):
            service.parse(RECORD)
    finally:
        service.close()
