"""Prompt templates as typed, versioned data.

A template is a YAML file in ``prompts/templates``; ``load_prompt`` is the one door through which
the service gets it. With settings, the MLflow Prompt Registry stands behind the same call: the
version its ``production`` alias points at wins, the file is the fallback (registry down, empty,
or no such alias), and which one was chosen is logged once per outcome, never per request.
"""

from __future__ import annotations

import logging
import re
import string
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:  # pragma: no cover
    from genaiops.settings import Settings

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_announced: set[str] = set()  # outcomes already logged at INFO/WARNING in this process


class PromptError(ValueError):
    """A prompt cannot be found or is malformed."""


class PromptNotFoundError(PromptError):
    pass


class MissingVariableError(PromptError, KeyError):
    """Rendering without one of the template's ``input_variables``."""

    def __init__(self, prompt: str, variable: str) -> None:
        super().__init__(f"prompt {prompt!r} needs variable {variable!r}")
        self.variable = variable

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class PromptParts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str
    user: str


class PromptTemplate(BaseModel):
    """A versioned chat prompt: a system part and a user part with ``{variable}`` slots."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    description: str = ""
    input_variables: list[str] = Field(default_factory=list)
    template: PromptParts
    source: Literal["file", "registry"] = Field("file", description="Where this version was read from.")

    @model_validator(mode="after")
    def _slots_match_variables(self) -> PromptTemplate:
        used = _fields(self.template.system) | _fields(self.template.user)
        declared = set(self.input_variables)
        if used != declared:
            raise ValueError(f"template slots {sorted(used)} do not match input_variables {sorted(declared)}")
        return self

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def render(self, **values: str) -> PromptParts:
        """Fill both parts. Values are inserted verbatim: braces inside them are never re-read."""
        for variable in self.input_variables:
            if variable not in values:
                raise MissingVariableError(self.name, variable)
        return PromptParts(system=self.template.system.format(**values), user=self.template.user.format(**values))

    def system_text(self, **values: str) -> str:
        """The system part alone, e.g. to check an answer does not echo it."""
        return self.render(**values).system


def _fields(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def load_prompt(name: str, settings: Settings | None = None, *, alias: str = "production") -> PromptTemplate:
    """The prompt ``name`` the service should answer with.

    Without settings: the file. With settings: ``prompts:/name@alias`` from the MLflow Prompt
    Registry when it is reachable (short probe) and has that alias, else the file. A registered
    version whose variables differ from the file's is refused: the service fills the file's slots,
    so such a version would silently drop the question or the context.
    """
    file_prompt = load_prompt_file(name)
    if settings is None:
        return file_prompt
    from prompts.registry import resolve_registered

    lookup = resolve_registered(settings, name, alias)
    registered, reason, warn = lookup.prompt, lookup.reason, lookup.warn
    if registered is not None and set(registered.input_variables) != set(file_prompt.input_variables):
        reason = (
            f"registry version {registered.version} has variables {sorted(registered.input_variables)}, "
            f"the service fills {sorted(file_prompt.input_variables)}"
        )
        registered, warn = None, True
    if registered is not None:
        _announce(logging.INFO, f"prompt {name}: registry version {registered.version} (prompts:/{name}@{alias})")
        return registered
    level = logging.WARNING if warn else logging.INFO
    _announce(level, f"prompt {name}: file version {file_prompt.version} (prompts/templates/{name}.yaml): {reason}")
    return file_prompt


def load_prompt_file(name: str) -> PromptTemplate:
    """The prompt ``name`` as committed in ``prompts/templates`` (the git side of versioning)."""
    if not _NAME.match(name):
        raise PromptNotFoundError(f"invalid prompt name {name!r}: use lowercase letters, digits and _")
    path = TEMPLATES_DIR / f"{name}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in TEMPLATES_DIR.glob("*.yaml"))
        raise PromptNotFoundError(f"no prompt named {name!r}; available: {available}")
    return parse_prompt(path.read_text(encoding="utf-8"), origin=str(path))


def _announce(level: int, message: str) -> None:
    """Log which prompt the service uses: loudly the first time, quietly when nothing changed."""
    log.log(level if message not in _announced else logging.DEBUG, message)
    _announced.add(message)


def parse_prompt(text: str, origin: str = "<string>") -> PromptTemplate:
    try:
        data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise PromptError(f"{origin}: a prompt file is a YAML mapping")
        if "version" in data:
            data["version"] = str(data["version"])
        return PromptTemplate(**data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise PromptError(f"{origin}: {exc}") from exc
