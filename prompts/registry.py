"""The MLflow Prompt Registry side of prompt versioning; git holds the files, MLflow the versions.

``push`` registers a new version only for prompts whose text changed (idempotent), tagged with
the git commit; ``promote`` moves an alias (``production`` / ``candidate``); ``load_registered``
returns the version an alias points at, or None when the registry cannot be reached.
Templates are stored as MLflow chat prompts, whose slots are ``{{var}}`` where our files use ``{var}``.
"""

from __future__ import annotations

import difflib
import logging
import re
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genaiops.settings import REPO_ROOT, Settings
from genaiops.tracking import configure_mlflow, store_missing, tracking_reachable
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


def latest_version(name: str) -> Any | None:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        versions = mlflow.MlflowClient().search_prompt_versions(name)
    except MlflowException:
        return None
    return max(versions, key=lambda v: int(v.version)) if versions else None


def push(settings: Settings, directory: Path = TEMPLATES_DIR) -> list[PushResult]:
    """Register a version for each changed prompt; unchanged ones are left alone."""
    import mlflow

    configure_mlflow(settings)
    prompts, results = read_prompt_files(directory)
    commit = git_commit()
    for prompt in prompts:
        chat = to_chat(prompt)
        current = latest_version(prompt.name)
        if current is not None and current.template == chat:
            results.append(PushResult(prompt.name, "unchanged", int(current.version)))
            continue
        registered = mlflow.genai.register_prompt(
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
    import mlflow

    if alias not in ALIASES:
        raise PromptError(f"alias must be one of {ALIASES}, not {alias!r}")
    configure_mlflow(settings)
    mlflow.genai.load_prompt(name, version=version)  # raises if that version does not exist
    mlflow.genai.set_prompt_alias(name, alias=alias, version=version)


def list_prompts(settings: Settings) -> list[dict[str, Any]]:
    """Each registered prompt with its versions (newest first) and the aliases on each."""
    import mlflow

    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    listed = []
    for prompt in mlflow.genai.search_prompts():
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


def _render_chat(template: Any) -> str:
    if isinstance(template, str):
        return template
    return "\n".join(f"[{m['role']}]\n{m['content']}" for m in template)


def diff(settings: Settings, name: str, v1: int, v2: int) -> str:
    """Unified diff between two registered versions of ``name``."""
    import mlflow

    configure_mlflow(settings)
    a = _render_chat(mlflow.genai.load_prompt(name, version=v1).template).splitlines(keepends=True)
    b = _render_chat(mlflow.genai.load_prompt(name, version=v2).template).splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, fromfile=f"{name}@{v1}", tofile=f"{name}@{v2}"))


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
    import mlflow

    uri = settings.mlflow.tracking_uri or ""
    if store_missing(settings):
        return Lookup(None, f"no prompt registry yet ({uri} does not exist)")
    if not tracking_reachable(settings, timeout_s=timeout_s):
        return Lookup(None, f"prompt registry at {uri} unreachable", warn=True)
    configure_mlflow(settings)
    try:
        version = mlflow.genai.load_prompt(f"prompts:/{name}@{alias}", link_to_model=False, cache_ttl_seconds=0)
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
