"""Loading the model for serving: registry first, the local copy when the registry is unreachable, 503 without any."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from classic_ml.registry import local_champion_dir
from classic_ml.serving import ModelUnavailableError, build_classic_service
from tests.classic_ml.helpers import RECORD, make_settings, sharing_registry

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


def test_without_any_model_the_service_starts_and_says_how_to_get_one(tmp_path: Path) -> None:
    service = build_classic_service(make_settings(tmp_path / "var"))
    try:
        assert "genaiops train" in service.readiness()
        with pytest.raises(ModelUnavailableError, match="genaiops train"):
            service.parse(RECORD)
    finally:
        service.close()
