"""Create the database named in an SQLAlchemy URL if it does not exist yet (PostgreSQL only).

The postgres image creates one database (POSTGRES_DB) on first start; MLflow wants its own, and a
volume created before the MLflow service existed would never get it. Running this before
``mlflow server`` makes every start idempotent instead of relying on a first-start init script.

    MLFLOW_BACKEND_STORE_URI=postgresql+psycopg://u:p@postgres:5432/mlflow python ensure_database.py
    python ensure_database.py postgresql+psycopg://u:p@postgres:5432/mlflow
"""

from __future__ import annotations

import os
import sys
import time

import psycopg
from psycopg import errors, sql
from sqlalchemy.engine import make_url


def ensure_database(url: str, *, attempts: int = 15, delay_s: float = 2.0) -> str:
    """Create the URL's database when missing; returns what was done. Retries while the server starts."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return f"{parsed.drivername}: nothing to create"
    if not parsed.database:
        raise ValueError("the URL names no database (…/DBNAME)")
    conninfo = {
        "host": parsed.host or "localhost",
        "port": parsed.port or 5432,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": "postgres",
    }
    for attempt in range(1, attempts + 1):
        try:
            return _create_if_missing({k: v for k, v in conninfo.items() if v is not None}, parsed.database)
        except psycopg.OperationalError as exc:
            if attempt == attempts:
                raise
            print(f"postgres not reachable yet ({exc.__class__.__name__}), retry {attempt}/{attempts}", flush=True)
            time.sleep(delay_s)
    raise AssertionError("unreachable")


def _create_if_missing(conninfo: dict[str, object], name: str) -> str:
    with psycopg.connect(**conninfo, autocommit=True) as conn:  # type: ignore[arg-type]
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return f"database {name} exists"
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except errors.DuplicateDatabase:  # another replica created it between our check and now
            return f"database {name} exists"
        return f"database {name} created"


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else os.environ.get("MLFLOW_BACKEND_STORE_URI", "")
    if not url:
        print("usage: ensure_database.py URL (or set MLFLOW_BACKEND_STORE_URI)", file=sys.stderr)
        return 2
    try:
        print(ensure_database(url), flush=True)
    except (ValueError, psycopg.Error) as exc:
        print(f"cannot prepare the backend database: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
