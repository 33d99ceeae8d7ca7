"""docker-compose.yml, read by the real Compose parser (docker-compose v2 `config`), then held to issue 7's rules.

Structural checks run on the parser's normalised model (`config --format json`: anchors merged,
variables interpolated, short syntax expanded), so they see what `docker compose up` would see.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from genaiops.settings import Settings
from tests.deploy.helpers import COMPOSE_FILE, TEST_PASSWORD, compose_config

EXPECTED_SERVICES = {"api", "ui", "mlflow", "postgres", "chroma", "ollama", "ollama-pull", "init"}
ONE_SHOTS = {"init", "ollama-pull"}
SECRET_KEY = re.compile(r"(?<!REQUIRE_)(PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY)$", re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"://[^:/@\s\"']+:([^@\s\"']+)@")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+]([^}]*))?\}")


@pytest.fixture(scope="module")
def config(compose_cmd: list[str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = compose_config(compose_cmd, tmp_path_factory.mktemp("compose"), "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_real_parser_accepts_the_file(compose_cmd: list[str], tmp_path: Path) -> None:
    result = compose_config(compose_cmd, tmp_path, "--quiet")
    assert result.returncode == 0, result.stderr


def _broken_copies() -> list[tuple[str, Any, str]]:
    def ghost_dependency(doc: dict[str, Any]) -> None:
        doc["services"]["api"]["depends_on"]["ghost"] = {"condition": "service_healthy"}

    def undeclared_volume(doc: dict[str, Any]) -> None:
        doc["services"]["api"]["volumes"].append("undeclared-volume:/somewhere")

    def misspelt_key(doc: dict[str, Any]) -> None:
        doc["services"]["chroma"]["helthcheck"] = doc["services"]["chroma"].pop("healthcheck")

    def wrong_type(doc: dict[str, Any]) -> None:
        doc["services"]["postgres"]["healthcheck"]["retries"] = "many"

    return [
        ("ghost_dependency", ghost_dependency, "ghost"),
        ("undeclared_volume", undeclared_volume, "undeclared-volume"),
        ("misspelt_key", misspelt_key, "helthcheck"),
        ("wrong_type", wrong_type, "retries"),
    ]


@pytest.mark.parametrize(("name", "mutate", "named_in_error"), _broken_copies(), ids=[b[0] for b in _broken_copies()])
def test_the_parser_rejects_a_broken_copy(
    compose_cmd: list[str], tmp_path: Path, name: str, mutate: Any, named_in_error: str
) -> None:
    """Proves the validation can fail: each deliberate mistake is refused, naming the culprit."""
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    mutate(doc)
    broken = tmp_path / f"{name}.yml"
    broken.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = compose_config(compose_cmd, tmp_path, "--quiet", file=broken)
    assert result.returncode != 0, f"{name} was accepted"
    assert named_in_error in result.stderr, result.stderr


def test_the_postgres_password_is_required_not_defaulted(compose_cmd: list[str], tmp_path: Path) -> None:
    result = compose_config(compose_cmd, tmp_path, "--quiet", env_file_text="")
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_the_stack_has_the_services_of_issue_7(config: dict[str, Any]) -> None:
    assert set(config["services"]) == EXPECTED_SERVICES


def test_every_long_running_service_has_a_healthcheck(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        check = service.get("healthcheck") or {}
        if name in ONE_SHOTS:
            assert service.get("restart") == "no", f"{name} is a one-shot: restart must be 'no'"
            continue
        assert service.get("restart") == "unless-stopped", name
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        test = check.get("test") or []
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name}: no healthcheck command ({test})"
        assert check.get("interval") and check.get("retries"), f"{name}: healthcheck without interval/retries"


def test_start_up_waits_for_health_and_for_one_shots_to_succeed(config: dict[str, Any]) -> None:
    services = config["services"]
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            expected = "service_completed_successfully" if dep in ONE_SHOTS else "service_healthy"
            assert spec.get("condition") == expected, f"{name} -> {dep}: {spec}"
    assert set(services["api"]["depends_on"]) == {"init", "ollama-pull", "postgres", "chroma", "mlflow", "ollama"}
    assert set(services["init"]["depends_on"]) == {"postgres", "chroma", "mlflow"}
    assert set(services["ui"]["depends_on"]) == {"api"}
    assert set(services["mlflow"]["depends_on"]) == {"postgres"}
    assert set(services["ollama-pull"]["depends_on"]) == {"ollama"}


def test_state_lives_in_named_volumes(config: dict[str, Any]) -> None:
    declared = set(config.get("volumes") or {})
    used: set[str] = set()
    mounts: dict[str, set[str]] = {}
    for name, service in config["services"].items():
        for volume in service.get("volumes") or []:
            assert volume["type"] == "volume", (
                f"{name}: {volume['type']} mount {volume} (state must be in a named volume)"
            )
            assert volume.get("source") in declared, f"{name}: anonymous or undeclared volume {volume}"
            used.add(volume["source"])
            mounts.setdefault(name, set()).add(volume["target"])
    assert used == declared, f"declared but unused: {declared - used}"
    assert "/var/lib/postgresql/data" in mounts["postgres"]
    assert "/data" in mounts["chroma"]
    assert "/root/.ollama" in mounts["ollama"]
    assert "/mlartifacts" in mounts["mlflow"]
    assert "/data" in mounts["api"] and "/data" in mounts["init"], "init writes what the API reads"


def literal_secrets(text: str) -> list[str]:
    """Secret-looking values written in the file itself instead of interpolated from the environment."""
    found = []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.split(" #", 1)[0].strip()
        key, sep, value = stripped.partition(":")
        value = value.strip().strip("\"'")
        if sep and SECRET_KEY.search(key.strip().lstrip("- ")) and value and not value.startswith("${"):
            found.append(f"line {lineno}: {key.strip()}")
        for match in URL_CREDENTIALS.finditer(stripped):
            if not match.group(1).startswith("${"):
                found.append(f"line {lineno}: credentials in a URL")
    return found


def test_no_literal_secret_in_the_file() -> None:
    assert literal_secrets(COMPOSE_FILE.read_text()) == []


def test_the_secret_scanner_finds_literal_secrets() -> None:
    bad = "    POSTGRES_PASSWORD: hunter2\n    URL: postgresql://u:hunter2@db/x\n    TOKEN: ${TOKEN}\n"
    assert literal_secrets(bad) == ["line 1: POSTGRES_PASSWORD", "line 2: credentials in a URL"]


def test_secrets_reach_the_containers_from_the_environment(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == TEST_PASSWORD
    assert f":{TEST_PASSWORD}@postgres:5432/" in services["api"]["environment"]["GENAIOPS_DATABASE_URL"]
    assert f":{TEST_PASSWORD}@postgres:5432/mlflow" in services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]


def test_app_containers_get_valid_settings_for_every_server_backend(
    config: dict[str, Any], envgen: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The api environment, fed to the real Settings model, switches every backend to its server."""
    env = config["services"]["api"]["environment"]
    names = {v.name for v in envgen.setting_env_vars()}
    for key in env:
        assert key in names or not key.startswith("GENAIOPS_"), f"{key} is not a setting"
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.llm.backend == "ollama" and settings.llm.ollama_base_url == "http://ollama:11434"
    assert settings.rag.chroma_host == "chroma" and settings.rag.chroma_port == 8000
    assert settings.mlflow.tracking_uri == "http://mlflow:5000"
    assert settings.database_url is not None and settings.database_url.startswith("postgresql+psycopg://")
    assert settings.ui.api_url == "http://api:8000"
    assert str(settings.data_dir) == "/data"
    assert settings.api.require_api_key is True  # client keys on in production (off for `make run`)


def test_every_genaiops_variable_in_the_file_is_a_setting(envgen: Any) -> None:
    settings = {v.name: v for v in envgen.setting_env_vars()}
    compose_only = {v.name for v in envgen.COMPOSE_VARS}
    text = COMPOSE_FILE.read_text()
    for key in re.findall(r"^\s+(GENAIOPS_[A-Z0-9_]+):", text, re.MULTILINE):
        assert key in settings, f"{key} (environment) is not a genaiops setting: typo?"
    for name, default in INTERPOLATION.findall(text):
        assert name in settings or name in compose_only, f"${{{name}}} is not documented in .env.example"
        if name in settings and default:
            assert default == settings[name].default, f"{name}: compose default {default} != settings default"


def test_images_are_pinned_and_built_from_dockerfile_targets(config: dict[str, Any], stages: dict[str, Any]) -> None:
    services = config["services"]
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["target"] in stages, f"{name}: no stage {service['build']['target']}"
            continue
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned image {image}"
    app_images = {services[s]["image"] for s in ("api", "ui", "init")}
    assert len(app_images) == 1, "api, ui and init run the same image"
    assert {services[s]["build"]["target"] for s in ("api", "ui", "init")} == {"api-ollama"}
    assert services["mlflow"]["build"]["target"] == "mlflow"


def test_the_pulled_model_is_the_one_the_api_uses(config: dict[str, Any]) -> None:
    services = config["services"]
    assert (
        services["ollama-pull"]["environment"]["OLLAMA_MODEL"]
        == (services["api"]["environment"]["GENAIOPS_LLM__OLLAMA_MODEL"])
    )
    assert services["ollama-pull"]["environment"]["OLLAMA_HOST"].startswith("ollama:")


def test_ui_runs_the_streamlit_home_page_against_the_api(config: dict[str, Any]) -> None:
    ui = config["services"]["ui"]
    assert ui["command"][:3] == ["streamlit", "run", "ui/Home.py"]
    assert ui["environment"]["GENAIOPS_UI__API_URL"] == "http://api:8000"
    assert config["services"]["init"]["command"] == ["sh", "/app/docker/init.sh"]
