"""Schema migrations of the operational database (``settings.database_url``), through Alembic.

Every table the API writes (prediction log, ask log, conversations, client keys, documents) is
created and changed by the numbered revisions in ``genaiops/migrations/versions``, never by
``create_all`` drift. They run at API start-up and with ``genaiops db upgrade``; each revision
inspects before it acts, so a database made by the older ``create_all`` code is upgraded in place,
rows kept. On Postgres an advisory lock makes replicas that start together migrate one at a time.
The version is kept in ``genaiops_schema_version`` (MLflow, which also uses Alembic, keeps its own).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import sqlalchemy as sa

from genaiops.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "genaiops_schema_version"
_LOCK_KEY = 0x6E61_6F70  # pg advisory lock id: "naop"
_done: set[tuple[str, ...]] = set()
_done_lock = threading.Lock()


def log_tables(settings: Settings) -> dict[str, str]:
    """The request-log table names (settings), which the revisions need."""
    return {"predictions": settings.classic.prediction_log_table, "asks": settings.monitoring.ask_log_table}


def _config(settings: Settings, connection: sa.Connection | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["tables"] = log_tables(settings)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision(settings: Settings) -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config(settings)).get_current_head()
    assert head is not None
    return head


def current_revision(settings: Settings) -> str | None:
    """The revision the database is at; None for a database never migrated (empty, or made by create_all)."""
    from alembic.runtime.migration import MigrationContext

    from genaiops.db import make_engine

    assert settings.database_url is not None
    settings.ensure_dirs()
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
    finally:
        engine.dispose()


def upgrade_database(settings: Settings, *, force: bool = False) -> str:
    """Bring the database to the newest revision (idempotent; once per process unless ``force``)."""
    from alembic import command

    from genaiops.db import make_engine

    assert settings.database_url is not None
    alembic_log = logging.getLogger("alembic")
    if alembic_log.level == logging.NOTSET:  # its per-step INFO lines drown the start-up log
        alembic_log.setLevel(logging.WARNING)
    key = (settings.database_url, *log_tables(settings).values())
    with _done_lock:
        if key in _done and not force:
            return head_revision(settings)
        settings.ensure_dirs()
        engine = make_engine(settings.database_url)
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
                command.upgrade(_config(settings, conn), "head")
        finally:
            engine.dispose()
        _done.add(key)
    head = head_revision(settings)
    log.info("database %s at schema revision %s", _redacted(settings.database_url), head)
    return head


def _redacted(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)
