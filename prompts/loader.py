"""Prompt templates as typed, versioned data: the files in ``prompts/templates`` (the git side of versioning).

``prompts.selector.load_prompt`` is the one door through which the service gets a template: the file
read here, or the registry's version (``prompts.registry``) standing behind the same call.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


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


def load_prompt_file(name: str) -> PromptTemplate:
    """The prompt ``name`` as committed in ``prompts/templates`` (the git side of versioning)."""
    if not _NAME.match(name):
        raise PromptNotFoundError(f"invalid prompt name {name!r}: use lowercase letters, digits and _")
    path = TEMPLATES_DIR / f"{name}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in TEMPLATES_DIR.glob("*.yaml"))
        raise PromptNotFoundError(f"no prompt named {name!r}; available: {available}")
    return parse_prompt(path.read_text(encoding="utf-8"), origin=str(path))


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
