"""Alembic environment: always run programmatically by ``genaiops.migrate.upgrade_database``.

The caller hands over an open connection (inside its transaction, which holds the Postgres
advisory lock) and the names of the two request-log tables, which are settings.
"""

from __future__ import annotations

from alembic import context

from genaiops.migrate import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - `alembic upgrade` from a shell is not supported
    raise RuntimeError("run migrations with `genaiops db upgrade`, not the alembic command")

context.configure(connection=connection, target_metadata=None, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
