"""Fixtures for the deployment files: the real Compose parser, the Dockerfile's stages, the .env.example generator."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.deploy.helpers import Stage, dockerfile_stages, find_compose, load_envgen, require_tool


@pytest.fixture(scope="session")
def compose_cmd() -> list[str]:
    cmd = find_compose()
    require_tool(cmd, "docker-compose v2 (run `make compose-tool`, or install the docker compose plugin)")
    assert cmd is not None
    return cmd


@pytest.fixture(scope="session")
def stages() -> dict[str, Stage]:
    return {s.name: s for s in dockerfile_stages()}


@pytest.fixture(scope="session")
def envgen() -> ModuleType:
    return load_envgen()
