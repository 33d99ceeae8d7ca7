"""Which prompt version answers a request: production, or the candidate for a share of traffic (canary).

``PromptSelector.select(key)`` hashes the key (the conversation id when there is one, else the request
id) to a point in [0, 1): below ``canary_share`` it answers with the candidate. The same key always gets
the same version, so a conversation never switches prompt mid-way, and nothing random is drawn per
request. Without a ``candidate`` alias in the registry (or with a share of 0) every key gets production.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prompts.loader import PromptTemplate, load_prompt

if TYPE_CHECKING:  # pragma: no cover
    from genaiops.settings import Settings

log = logging.getLogger(__name__)


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
    from prompts.registry import resolve_registered

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
