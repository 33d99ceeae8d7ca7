"""What ``GET /prompts`` and ``GET /prompts/{name}/diff`` serve (and ``genaiops prompts diff`` prints):
the registry's versions, else the files.

The registry (``prompts.registry``) is asked only when it can answer: a sqlite store that does
not exist yet holds no prompt (and is not created just to be asked), a server is probed with a
short timeout. Prompts never pushed are still listed, from their file (``source: "file"``), so the
UI shows what the service answers with even before the first ``genaiops prompts push``.
"""

from __future__ import annotations

import difflib
import logging
from typing import Any

from genaiops.settings import Settings
from genaiops.tracking import mlflow_store
from prompts.loader import PromptTemplate
from prompts.registry import list_prompts, read_prompt_files

log = logging.getLogger(__name__)


class RegistryUnavailableError(RuntimeError):
    """The prompt registry cannot be read; the message says where it was looked for."""


class VersionNotFoundError(LookupError):
    """No such prompt or version in the registry; the message names it and the fix."""


def file_entry(prompt: PromptTemplate) -> dict[str, Any]:
    """A prompt file in the ``GET /prompts`` shape: one version, no alias (aliases live in the registry)."""
    template = f"[system]\n{prompt.template.system}\n[user]\n{prompt.template.user}"
    return {
        "name": prompt.name,
        "source": "file",
        "versions": [{"version": prompt.version, "aliases": [], "template": template, "commit": "", "created": None}],
    }


def catalog(settings: Settings) -> list[dict[str, Any]]:
    """Registered prompts with their versions and aliases, then the prompt files never pushed."""
    registered: list[dict[str, Any]] = []
    if mlflow_store(settings).state() == "ready":
        try:
            registered = list_prompts(settings)
        except Exception as exc:  # noqa: BLE001 - a broken store: the files still say what is served
            log.warning("prompt registry at %s unreadable: %s", settings.mlflow.tracking_uri, exc)
    names = {p["name"] for p in registered}
    files, _ = read_prompt_files()
    return registered + [file_entry(p) for p in files if p.name not in names]


def version_diff(settings: Settings, name: str, v1: int, v2: int) -> str:
    """Unified diff of two registered versions of ``name``: the one diff, for the API, the UI and the CLI."""
    state = mlflow_store(settings).state()
    if state == "empty":
        raise VersionNotFoundError(f"no prompt is registered yet: run `genaiops prompts push` first ({name})")
    if state == "unreachable":
        raise RegistryUnavailableError(f"prompt registry at {settings.mlflow.tracking_uri} unreachable")
    found = {p["name"]: p for p in list_prompts(settings)}.get(name)
    if found is None:
        raise VersionNotFoundError(f"no registered prompt named {name!r}: run `genaiops prompts push`")
    texts = {str(v["version"]): v["template"] for v in found["versions"]}
    missing = [str(v) for v in (v1, v2) if str(v) not in texts]
    if missing:
        raise VersionNotFoundError(f"{name} has no version {', '.join(missing)} (versions: {', '.join(texts)})")
    a, b = (texts[str(v)].rstrip("\n").splitlines(keepends=False) for v in (v1, v2))
    return "\n".join(difflib.unified_diff(a, b, fromfile=f"{name}@{v1}", tofile=f"{name}@{v2}", lineterm=""))
