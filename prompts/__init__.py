"""Versioned prompt templates. ``load_prompt(name, settings)`` is the only way the service gets one."""

from prompts.loader import (
    MissingVariableError,
    PromptError,
    PromptNotFoundError,
    PromptParts,
    PromptTemplate,
    load_prompt_file,
    parse_prompt,
)
from prompts.selector import load_prompt

__all__ = [
    "MissingVariableError",
    "PromptError",
    "PromptNotFoundError",
    "PromptParts",
    "PromptTemplate",
    "load_prompt",
    "load_prompt_file",
    "parse_prompt",
]
