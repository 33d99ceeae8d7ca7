"""Which prompt version answers a request: ``load_prompt`` (the registry's alias, else the file), and
production or the candidate for a share of traffic (canary).

``load_prompt`` is the one door through which the service gets a template. With settings, the MLflow
Prompt Registry stands behind it: the version its ``production`` alias points at wins, the file is the
fallback (registry down, empty, or no such alias), and which one was chosen is logged once per outcome,
never per request.

``PromptSelector.select(key)`` hashes the key (the conversation id when there is one, else the request
id) to a point in [0, 1): below ``canary_share`` it answers with the candidate. The same key always gets
the same version, so a conversation never switches prompt mid-way, and nothing random is drawn per
request. Without a ``candidate`` alias in the registry (or with a share of 0) every key gets production.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from genaiops.settings import Settings
from prompts.loader import PromptTemplate, load_prompt_file
from prompts.registry import resolve_registered

log = logging.getLogger(__name__)
_announced: set[str] = set()  # outcomes already logged at INFO/WARNING in this process


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


def _announce(level: int, message: str) -> None:
    """Log which prompt the service uses: loudly the first time, quietly when nothing changed."""
    log.log(level if message not in _announced else logging.DEBUG, message)
    _announced.add(message)


def bucket(key: str) -> float:
    """A stable point in [0, 1) for ``key`` (the first 8 bytes of its SHA-256)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64


@dataclass(frozen=True)
class PromptSelector:
    production: PromptTemplate
    candidate: PromptTemplate | None = None
    share: float = 0.0

    def select(self, key: str) -> PromptTemplate:
        """The template for ``key``: the candidate for a ``share`` of keys, production for the rest."""
        if self.candidate is None or self.share <= 0:
            return self.production
        return self.candidate if bucket(key) < self.share else self.production

    def info(self) -> dict[str, str | float | None]:
        """What the canary is doing, for logs and the admin reload answer."""
        return {
            "production": self.production.ref,
            "candidate": self.candidate.ref if self.candidate is not None else None,
            "share": self.share if self.candidate is not None else 0.0,
        }


def load_candidate(settings: Settings, name: str, production: PromptTemplate) -> PromptTemplate | None:
    """``prompts:/name@candidate`` when the registry has it, fills the same slots and differs from production."""
    found = resolve_registered(settings, name, "candidate").prompt
    if found is None or found.version == production.version:
        return None
    if set(found.input_variables) != set(production.input_variables):
        log.warning("prompt %s@candidate (v%s) fills other slots than production: no canary", name, found.version)
        return None
    return found


def build_selector(settings: Settings, name: str) -> PromptSelector:
    """Production as ``load_prompt`` resolves it, and the candidate when ``prompts.canary_share`` > 0."""
    production = load_prompt(name, settings)
    share = settings.prompts.canary_share
    candidate = load_candidate(settings, name, production) if share > 0 else None
    if candidate is not None:
        log.info("prompt canary: %.0f%% of /ask with %s, the rest with %s", share * 100, candidate.ref, production.ref)
    return PromptSelector(production, candidate, share)
