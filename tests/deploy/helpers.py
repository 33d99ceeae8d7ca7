"""Helpers for tests/deploy: find the real tools, run `compose config`, parse the Dockerfile, load the generator.

No Docker engine runs here, so nothing is built or started: files are validated by the tools that
would read them (docker-compose v2 `config`, the BuildKit Dockerfile parser, hadolint).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import dockerfile
import pytest

from genaiops.settings import REPO_ROOT
from tests.conftest import in_ci

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
TEST_PASSWORD = "ci-only-not-a-secret"
# Variables that would leak from the developer's shell into compose interpolation.
_LEAKY_PREFIXES = ("GENAIOPS_", "POSTGRES_", "COMPOSE_", "MLFLOW_", "OLLAMA_", "DOCKER_")


def require_tool(found: object, what: str) -> None:
    """Skip locally, fail under CI: CI must run every deployment check."""
    if found:
        return
    if in_ci():
        pytest.fail(f"{what} is missing in CI")
    pytest.skip(f"{what} is missing")


def find_compose() -> list[str] | None:
    """docker-compose v2: `make compose-tool`'s binary, else the docker CLI plugin, else one on PATH."""
    local = REPO_ROOT / ".tools" / "docker-compose"
    if local.is_file() and os.access(local, os.X_OK):
        return [str(local)]
    candidates: list[list[str]] = []
    if docker := shutil.which("docker"):
        candidates.append([docker, "compose"])
    if standalone := shutil.which("docker-compose"):
        candidates.append([standalone])
    for cmd in candidates:
        probe = subprocess.run([*cmd, "version", "--short"], capture_output=True, text=True, timeout=30)
        # v1 (the old Python docker-compose) lacks the Compose Specification features used here.
        if probe.returncode == 0 and probe.stdout.strip().lstrip("v").startswith("2"):
            return cmd
    return None


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LEAKY_PREFIXES)}
    env.update(extra)
    return env


def compose_config(
    compose_cmd: list[str], tmp_path: Path, *args: str, file: Path = COMPOSE_FILE, env_file_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`docker compose config ARGS` on FILE, with the repository as project directory and a known env file."""
    env_file = tmp_path / "compose.env"
    env_file.write_text(env_file_text if env_file_text is not None else f"POSTGRES_PASSWORD={TEST_PASSWORD}\n")
    cmd = [*compose_cmd, "--project-directory", str(REPO_ROOT), "-f", str(file), "--env-file", str(env_file)]
    return subprocess.run([*cmd, "config", *args], capture_output=True, text=True, env=clean_env(), timeout=60)


@dataclass
class Stage:
    name: str
    base: str
    commands: list[Any] = field(default_factory=list)


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    """The Dockerfile's stages as parsed by BuildKit's own parser, global ARG defaults substituted in FROM."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for cmd in dockerfile.parse_file(str(path)):
        if cmd.cmd == "FROM":
            base = cmd.value[0]
            for key, value in global_args.items():
                base = base.replace("${" + key + "}", value).replace("$" + key, value)
            name = cmd.value[2] if len(cmd.value) >= 3 and cmd.value[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name=name, base=base))
        elif not stages:
            if cmd.cmd == "ARG" and "=" in cmd.value[0]:
                key, value = cmd.value[0].split("=", 1)
                global_args[key] = value.strip('"')
        else:
            stages[-1].commands.append(cmd)
    return stages


def load_envgen() -> ModuleType:
    """docs/gen_env_example.py, imported by path (docs/ is not a package)."""
    path = REPO_ROOT / "docs" / "gen_env_example.py"
    spec = importlib.util.spec_from_file_location("gen_env_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module
