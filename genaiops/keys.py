"""Client API keys: who may call the API when ``api.require_api_key`` is on, and a per-key rate limit.

A key is ``gk_`` + 32 random bytes (URL-safe base64), shown once by ``genaiops keys create``; only
its SHA-256 is stored (a random 256-bit key needs no slow hash: there is nothing to brute-force).
Keys are looked up by that hash. A revoked key stays in the table, so using it says "revoked" (403)
rather than "unknown" (401), and its name is not reused for another key.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from genaiops.db import make_engine
from genaiops.settings import Settings

KEY_PREFIX = "gk_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
api_keys = sa.Table(
    "api_keys",
    sa.MetaData(),
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)


class KeyCommandError(ValueError):
    """A key command that cannot be done (bad or taken name, unknown key); the message says why."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    prefix: str  # the first characters of the key, to recognise it in a list
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _row(row: sa.RowMapping) -> ApiKey:
    revoked = row["revoked_at"]
    return ApiKey(
        row["id"],
        row["name"],
        row["prefix"],
        _utc(row["created_at"]),
        None if revoked is None else _utc(revoked),
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class KeyStore:
    """Create, list, revoke and look up client keys in ``settings.database_url``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, name: str, key: str | None = None) -> tuple[ApiKey, str]:
        """A new key named ``name``: (its record, the key itself, which is never stored).

        ``key``: register a secret chosen elsewhere (a deployment's .env) instead of a random one.
        """
        if not NAME.match(name):
            raise KeyCommandError(f"invalid key name {name!r}: letters, digits, '.', '_' or '-', at most 100")
        key = key if key is not None else KEY_PREFIX + secrets.token_urlsafe(32)
        if len(key) < 24:
            raise KeyCommandError("a key must be at least 24 characters long")
        digest = hash_key(key)
        record = ApiKey(uuid.uuid4().hex, name, key[:10], datetime.now(UTC), None)
        with self.engine.begin() as conn:
            taken = conn.execute(
                sa.select(api_keys.c.name).where((api_keys.c.name == name) | (api_keys.c.key_hash == digest))
            ).first()
            if taken is not None:
                raise KeyCommandError(f"a key named {taken[0]!r} already exists (names and keys are never reused)")
            conn.execute(api_keys.insert().values(**vars(record), key_hash=digest))
        return record, key

    def list(self) -> list[ApiKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)).mappings().all()
        return [_row(r) for r in rows]

    def revoke(self, name: str) -> ApiKey:
        """Revoke the key named ``name`` (idempotent); unknown names are an error."""
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.update()
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            row = conn.execute(sa.select(api_keys).where(api_keys.c.name == name)).mappings().first()
        if row is None:
            raise KeyCommandError(f"no key named {name!r}: see `genaiops keys list`")
        return _row(row)

    def lookup(self, key: str) -> ApiKey | None:
        """The record of a presented key, revoked or not; None for a key we never issued."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_hash == hash_key(key))).mappings().first()
        return None if row is None else _row(row)

    def close(self) -> None:
        self.engine.dispose()


def build_key_store(settings: Settings) -> KeyStore:
    from genaiops.migrate import upgrade_database

    assert settings.database_url is not None
    upgrade_database(settings)
    return KeyStore(make_engine(settings.database_url))


class RateLimiter:
    """At most ``per_minute`` requests per key in any 60 s (sliding window, in this process).

    ``check`` returns 0 when the request may go on, else the seconds until it would be allowed
    (the ``Retry-After``). Replicas each count their own requests: behind N replicas a key gets
    up to N times the limit, which is what a per-process limiter can promise.
    """

    def __init__(self, per_minute: int, clock: object = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str) -> int:
        if self.per_minute <= 0:
            return 0
        now = self._clock()  # type: ignore[operator]
        with self._lock:
            hits = self._hits.setdefault(key_id, deque())
            while hits and hits[0] <= now - 60.0:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(1, math.ceil(hits[0] + 60.0 - now))
            hits.append(now)
            return 0
