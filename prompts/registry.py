"""The MLflow Prompt Registry side of prompt versioning; git holds the files, MLflow the versions.

``push`` registers a new version only for prompts whose text changed (idempotent), tagged with
the git commit; ``promote`` moves an alias (``production`` / ``candidate``); ``load_registered``
returns the version an alias points at, or None when the registry cannot be reached.
Templates are stored as MLflow chat prompts, whose slots are ``{{var}}`` where our files use ``{var}``.
"""

from __future__ import annotations

import logging
import re
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genaiops.settings import REPO_ROOT, Settings
from genaiops.tracking import MlflowStore, mlflow_store
from prompts.loader import TEMPLATES_DIR, PromptError, PromptParts, PromptTemplate, parse_prompt

log = logging.getLogger(__name__)
ALIASES = ("production", "candidate")
_MLFLOW_SLOT = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass
class PushResult:
    name: str
    status: str  # "registered" | "unchanged" | "invalid"
    version: int | None = None
    detail: str = ""


def to_mlflow_text(text: str) -> str:
    """``{var}`` -> ``{{var}}``; escaped ``{{``/``}}`` become plain braces."""
    out = []
    for literal, field, _, _ in string.Formatter().parse(text):
        out.append(literal)
        if field:
            out.append("{{" + field + "}}")
    return "".join(out)


def from_mlflow_text(text: str) -> str:
    """``{{var}}`` -> ``{var}``, escaping any other brace for ``str.format``."""
    parts = _MLFLOW_SLOT.split(text)
    out = []
    for index, part in enumerate(parts):
        out.append("{" + part + "}" if index % 2 else part.replace("{", "{{").replace("}", "}}"))
    return "".join(out)


def to_chat(prompt: PromptTemplate) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": to_mlflow_text(prompt.template.system)},
        {"role": "user", "content": to_mlflow_text(prompt.template.user)},
    ]


def from_registered(version: Any, name: str) -> PromptTemplate:
    """Our typed prompt from an MLflow PromptVersion (chat or text template)."""
    chat = version.template
    if isinstance(chat, str):
        chat = [{"role": "system", "content": ""}, {"role": "user", "content": chat}]
    by_role = {m["role"]: from_mlflow_text(m["content"]) for m in chat}
    variables = sorted({v for text in by_role.values() for _, v, _, _ in string.Formatter().parse(text) if v})
    return PromptTemplate(
        name=name,
        version=str(version.version),
        source="registry",
        description=version.commit_message or "",
        input_variables=variables,
        template=PromptParts(system=by_role.get("system", ""), user=by_role.get("user", "")),
    )


def git_commit() -> str:
    """HEAD of the repo, with ``-dirty`` when prompt files have uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", str(TEMPLATES_DIR)], cwd=REPO_ROOT, capture_output=True, text=True
        ).stdout.strip()
        return f"{head}-dirty" if dirty else head
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def read_prompt_files(directory: Path = TEMPLATES_DIR) -> tuple[list[PromptTemplate], list[PushResult]]:
    """Every prompt file, parsed; the invalid ones come back as results that name the problem."""
    prompts, invalid = [], []
    for path in sorted(directory.glob("*.yaml")):
        try:
            prompts.append(parse_prompt(path.read_text(encoding="utf-8"), origin=path.name))
        except PromptError as exc:
            invalid.append(PushResult(path.stem, "invalid", detail=str(exc)))
    return prompts, invalid


def latest_version(store: MlflowStore, name: str) -> Any | None:
    """The newest registered version of ``name``, or None."""
    from mlflow.exceptions import MlflowException

    try:
        versions = store.client.search_prompt_versions(name)
    except MlflowException:
        return None
    return max(versions, key=lambda v: int(v.version)) if versions else None


def push(settings: Settings, directory: Path = TEMPLATES_DIR) -> list[PushResult]:
    """Register a version for each changed prompt; unchanged ones are left alone."""
    store = mlflow_store(settings)
    prompts, results = read_prompt_files(directory)
    commit = git_commit()
    for prompt in prompts:
        chat = to_chat(prompt)
        current = latest_version(store, prompt.name)
        if current is not None and current.template == chat:
            results.append(PushResult(prompt.name, "unchanged", int(current.version)))
            continue
        registered = store.client.register_prompt(
            name=prompt.name,
            template=chat,
            commit_message=f"{prompt.description.strip()} (git {commit}, file version {prompt.version})",
            tags={
                "git_commit": commit,
                "file_version": prompt.version,
                "source": f"prompts/templates/{prompt.name}.yaml",
            },
        )
        results.append(PushResult(prompt.name, "registered", int(registered.version)))
    return results


def promote(settings: Settings, name: str, version: int, alias: str = "production") -> None:
    if alias not in ALIASES:
        raise PromptError(f"alias must be one of {ALIASES}, not {alias!r}")
    client = mlflow_store(settings).client
    client.load_prompt(name, version=version)  # raises if that version does not exist
    client.set_prompt_alias(name, alias=alias, version=version)


def load_version(settings: Settings, name: str, version: int) -> PromptTemplate:
    """Registered version ``version`` of ``name`` as our template (raises MlflowException when there is none)."""
    return from_registered(mlflow_store(settings).client.load_prompt(name, version=version), name)


def list_prompts(settings: Settings) -> list[dict[str, Any]]:
    """Each registered prompt with its versions (newest first) and the aliases on each."""
    client = mlflow_store(settings).client
    listed = []
    for prompt in _all_prompts(client):
        found = client.search_prompt_versions(prompt.name)  # these carry no aliases: fetch each version
        versions = [
            client.get_prompt_version(prompt.name, v.version) for v in sorted(found, key=lambda v: -int(v.version))
        ]
        listed.append(
            {
                "name": prompt.name,
                "source": "registry",
                "versions": [
                    {
                        "version": str(v.version),
                        "aliases": sorted(getattr(v, "aliases", []) or []),
                        "template": _render_chat(v.template),
                        "commit": (v.tags or {}).get("git_commit", ""),
                        "created": getattr(v, "creation_timestamp", None),
                    }
                    for v in versions
                ],
            }
        )
    return listed


def _all_prompts(client: Any) -> list[Any]:
    """Every registered prompt (all pages)."""
    found, token = [], None
    while True:
        page = client.search_prompts(page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def _render_chat(template: Any) -> str:
    if isinstance(template, str):
        return template
    return "\n".join(f"[{m['role']}]\n{m['content']}" for m in template)


def load_registered(
    settings: Settings, name: str, alias: str = "production", timeout_s: float = 1.0
) -> PromptTemplate | None:
    """``prompts:/name@alias`` as our template, or None if the registry is down or has no such alias."""
    return resolve_registered(settings, name, alias, timeout_s).prompt


@dataclass
class Lookup:
    """What the registry said: the aliased prompt, or why not and whether that is worth a warning."""

    prompt: PromptTemplate | None
    reason: str = ""
    warn: bool = False  # False: an expected state (no registry yet, no alias); True: something is wrong


def resolve_registered(settings: Settings, name: str, alias: str = "production", timeout_s: float = 1.0) -> Lookup:
    """The aliased version, or None and why not. Cheap when there is no registry to ask.

    A server is probed with a short timeout first (MLflow's own client would retry for minutes);
    a sqlite store that does not exist yet holds no prompt, so it is not created just to be asked.
    The alias is read with the prompt cache off: a version promoted a second ago must be seen.
    """
    store = mlflow_store(settings)
    state = store.state(timeout_s)
    if state == "empty":
        return Lookup(None, f"no prompt registry yet ({store.uri} does not exist)")
    if state == "unreachable":
        return Lookup(None, f"prompt registry at {store.uri} unreachable", warn=True)
    try:
        version = store.client.load_prompt(f"prompts:/{name}@{alias}", cache_ttl_seconds=0)
    except Exception as exc:  # noqa: BLE001 - MlflowException, a broken store, a dropped connection: use the file
        code = getattr(exc, "error_code", "")
        expected = code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")  # no such prompt / alias
        message = (getattr(exc, "message", None) or str(exc))[:200]
        return Lookup(None, f"no {name}@{alias} in the registry ({type(exc).__name__}: {message})", warn=not expected)
    if version is None:
        return Lookup(None, f"no {name}@{alias} in the registry")
    try:
        return Lookup(from_registered(version, name))
    except (PromptError, ValueError) as exc:
        return Lookup(None, f"registered {name}@{alias} is not a valid prompt: {exc}", warn=True)
