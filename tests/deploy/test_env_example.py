""".env.example documents every setting: it is generated from the Settings model and these tests keep it so.

When one fails after a new setting: `python docs/gen_env_example.py` and commit the result.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from genaiops.settings import REPO_ROOT, Settings

ENV_EXAMPLE = REPO_ROOT / ".env.example"
LINE = re.compile(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
FIX = "run `python docs/gen_env_example.py`"


def documented() -> dict[str, str]:
    """NAME -> value of every variable line of .env.example, commented out or not."""
    out = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if match := LINE.match(line.strip()):
            out[match.group(1)] = match.group(2)
    return out


def test_every_setting_is_documented(envgen: Any) -> None:
    missing = [v.name for v in envgen.setting_env_vars() if v.name not in documented()]
    assert not missing, f".env.example misses {missing}: {FIX}"


def test_nothing_documented_is_stale(envgen: Any) -> None:
    known = {v.name for v in envgen.setting_env_vars()} | {v.name for v in envgen.COMPOSE_VARS}
    stale = sorted(set(documented()) - known)
    assert not stale, f".env.example documents variables nothing reads: {stale}: {FIX}"


def test_the_file_is_what_the_generator_writes(envgen: Any) -> None:
    assert ENV_EXAMPLE.read_text(encoding="utf-8") == envgen.render(), f".env.example is stale: {FIX}"


def test_the_generator_walks_nested_sections(envgen: Any) -> None:
    names = {v.name: v for v in envgen.setting_env_vars()}
    assert names["GENAIOPS_LLM__BACKEND"].default == "llama-server"
    assert "ollama" in names["GENAIOPS_LLM__BACKEND"].description
    assert names["GENAIOPS_RAG__CHROMA_HOST"].default == ""
    assert names["GENAIOPS_DATA_DIR"].default == "var", "paths under the repository are shown relative"
    assert "GENAIOPS_LLM" not in names, "sections are not settings, their fields are"
    assert len(names) == _count_leaves(Settings)


def _count_leaves(model: type) -> int:
    from pydantic import BaseModel

    total = 0
    for field in model.model_fields.values():  # type: ignore[attr-defined]
        ann = field.annotation
        total += _count_leaves(ann) if isinstance(ann, type) and issubclass(ann, BaseModel) else 1
    return total


def test_every_documented_default_is_a_valid_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Uncommenting any line as shown must give settings that validate (same names, same types)."""
    lines = [f"{name}={value}" for name, value in documented().items() if name.startswith("GENAIOPS_") and value]
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(lines) + "\n")
    for name in documented():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(REPO_ROOT)  # relative paths in the example are relative to the repository
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert _resolved(settings.model_dump()) == _resolved(defaults.model_dump()), (
        "the example's values are not the defaults"
    )


def _resolved(value: Any) -> Any:
    """Relative paths (as the example shows them) compared with the absolute defaults they stand for."""
    if isinstance(value, dict):
        return {k: _resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    return (REPO_ROOT / value).resolve() if isinstance(value, Path) else value


def test_the_required_compose_secret_is_empty_and_uncommented() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert re.search(r"^POSTGRES_PASSWORD=$", text, re.MULTILINE), "compose must refuse to start until it is set"
    secrets = {
        n: v
        for n, v in documented().items()
        if re.search(r"(?<!REQUIRE_)(PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY)$", n)
    }
    assert secrets and all(v == "" for v in secrets.values()), f"a secret has a value in the example: {secrets}"
