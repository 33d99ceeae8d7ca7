"""Schema migrations of the operational database: a fresh database, one made by the older ``create_all``
code (rows kept), idempotence, a downgrade; on a real SQLite file and a real Postgres database.
Plus the ``genaiops db`` and ``genaiops keys`` commands.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from classic_ml.prediction_log import prediction_table
from genaiops.migrate import VERSION_TABLE, current_revision, head_revision, upgrade_database
from genaiops.settings import Settings
from rag.ask_log import AskLog, ask_table, read_asks
from tests.classic_ml.helpers import fresh_postgres_database, require_postgres
from tests.rag.test_ask_log import make_answer
from tests.settings import make_settings

NEW_TABLES = {"conversations", "conversation_turns", "api_keys", "documents"}


def settings_on(tmp_path: Path, url: str | None = None) -> Settings:
    return make_settings(tmp_path / "var", database_url=url)


def old_schema(engine: sa.Engine) -> None:
    """The two logs exactly as ``create_all`` made them before migrations (no conversation_id), with rows."""
    metadata = sa.MetaData()
    prediction_table("classic_predictions", metadata)
    asks = ask_table("rag_asks", sa.MetaData())
    old_asks = sa.Table(
        "rag_asks",
        metadata,
        *(
            sa.Column(c.name, c.type, primary_key=c.primary_key, index=c.index, nullable=c.nullable)
            for c in asks.columns
            if c.name != "conversation_id"
        ),
    )
    metadata.create_all(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            metadata.tables["classic_predictions"].insert(),
            [{"request_id": f"p{i}", "row_index": 0, "ts": now, "model_name": "m", "model_version": "1",
              "inputs": {"x": i}} for i in range(3)],
        )  # fmt: skip
        conn.execute(
            old_asks.insert(),
            [{"request_id": f"a{i}", "ts": now, "question": f"q{i}", "answer_chars": 3, "n_sources": 0,
              "mode": "refusal", "grounded": False} for i in range(2)],
        )  # fmt: skip


def assert_upgraded(engine: sa.Engine, settings: Settings) -> None:
    inspector = sa.inspect(engine)
    assert NEW_TABLES | {"classic_predictions", "rag_asks", VERSION_TABLE} <= set(inspector.get_table_names())
    assert "conversation_id" in {c["name"] for c in inspector.get_columns("rag_asks")}
    assert current_revision(settings) == head_revision(settings)


def upgrade_an_old_database(settings: Settings) -> None:
    engine = sa.create_engine(settings.database_url or "")
    try:
        old_schema(engine)
        assert current_revision(settings) is None  # made by create_all: never migrated
        upgrade_database(settings, force=True)
        assert_upgraded(engine, settings)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM classic_predictions")).scalar_one() == 3
            assert conn.execute(sa.text("SELECT count(*) FROM rag_asks")).scalar_one() == 2
        upgrade_database(settings, force=True)  # idempotent
        log = AskLog(engine)  # the new code writes its new column into the upgraded table
        log.record("q2", make_answer(), conversation_id="c1")
        log.close()
        asks = read_asks(settings)
        assert asks["question"].tolist() == ["q0", "q1", "q2"]
        assert asks["conversation_id"].tolist()[2] == "c1" and asks["conversation_id"].isna().sum() == 2
    finally:
        engine.dispose()


def test_a_database_made_by_create_all_is_upgraded_in_place_rows_kept(tmp_path: Path) -> None:
    settings = settings_on(tmp_path)
    upgrade_an_old_database(settings)
    assert Path(settings.database_url.removeprefix("sqlite:///")).is_file()  # type: ignore[union-attr]


@pytest.mark.postgres
def test_a_postgres_database_made_by_create_all_is_upgraded_in_place(tmp_path: Path) -> None:
    require_postgres()
    with fresh_postgres_database() as url:
        upgrade_an_old_database(settings_on(tmp_path, url))


def test_a_fresh_database_gets_every_table_and_the_logs_can_create_theirs_first(tmp_path: Path) -> None:
    settings = settings_on(tmp_path)
    engine = sa.create_engine(settings.database_url or "")
    assert upgrade_database(settings, force=True) == head_revision(settings)
    assert_upgraded(engine, settings)
    # a log that created its table first (tests, scripts) does not stop the migration
    other = settings_on(tmp_path / "other")
    AskLog(sa.create_engine(other.database_url or "")).close()
    upgrade_database(other, force=True)
    assert_upgraded(sa.create_engine(other.database_url or ""), other)


def test_settings_table_names_are_migrated(tmp_path: Path) -> None:
    table = f"asks_{uuid.uuid4().hex[:6]}"
    base = settings_on(tmp_path)
    settings = base.model_copy(update={"monitoring": base.monitoring.model_copy(update={"ask_log_table": table})})
    upgrade_database(settings, force=True)
    columns = {c["name"] for c in sa.inspect(sa.create_engine(settings.database_url or "")).get_columns(table)}
    assert "conversation_id" in columns


def test_downgrade_to_the_baseline_keeps_the_logs(tmp_path: Path) -> None:
    from alembic import command

    from genaiops.migrate import _config

    settings = settings_on(tmp_path)
    engine = sa.create_engine(settings.database_url or "")
    old_schema(engine)
    upgrade_database(settings, force=True)
    with engine.begin() as conn:
        command.downgrade(_config(settings, conn), "0001")
    inspector = sa.inspect(engine)
    assert not NEW_TABLES & set(inspector.get_table_names())
    assert "conversation_id" not in {c["name"] for c in inspector.get_columns("rag_asks")}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM rag_asks")).scalar_one() == 2
    upgrade_database(settings, force=True)
    assert_upgraded(engine, settings)


def test_db_and_keys_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import app

    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("GENAIOPS_DATABASE_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "current"]).stdout.strip() == "current none, newest 0002"
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and upgraded.stdout.strip() == "schema revision none -> 0002"

    created = runner.invoke(app, ["keys", "create", "open-webui"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]  # the key is the last line
    assert key.startswith("gk_") and len(key) > 40
    stored = (tmp_path / "var" / "genaiops.db").read_bytes()
    assert key.encode() not in stored  # only its hash is kept

    taken = runner.invoke(app, ["keys", "create", "open-webui"])
    assert taken.exit_code == 2 and "already exists" in taken.output
    assert runner.invoke(app, ["keys", "create", "bad/name"]).exit_code == 2
    listed = runner.invoke(app, ["keys", "list"], env={"COLUMNS": "200"})
    assert "open-webui" in listed.stdout and key[:10] in listed.stdout and key not in listed.stdout

    assert runner.invoke(app, ["keys", "revoke", "open-webui"]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "nobody"]).exit_code == 2
    monkeypatch.setenv("UI_KEY", "ui-secret-from-the-env-0123456789")
    from_env = runner.invoke(app, ["keys", "create", "ui", "--from-env", "UI_KEY"])
    assert from_env.stdout.strip().splitlines()[-1] == "ui-secret-from-the-env-0123456789"

    from genaiops.keys import build_key_store

    store = build_key_store(settings_on(tmp_path))
    assert store.lookup(key).revoked  # type: ignore[union-attr]
    assert store.lookup("ui-secret-from-the-env-0123456789").name == "ui"  # type: ignore[union-attr]
    assert store.lookup("never-issued") is None
    store.close()


def test_db_upgrade_on_an_unreachable_database_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import app

    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GENAIOPS_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2 and result.output.startswith("error: database unreachable")


def test_keys_create_exist_ok_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import app

    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("GENAIOPS_DATABASE_URL", raising=False)
    monkeypatch.setenv("UI_KEY", "ui-secret-from-the-env-0123456789")
    runner = CliRunner()
    first = runner.invoke(app, ["keys", "create", "ui", "--from-env", "UI_KEY", "--exist-ok"])
    assert first.exit_code == 0 and first.stdout.strip().splitlines()[-1] == "ui-secret-from-the-env-0123456789"
    again = runner.invoke(app, ["keys", "create", "ui", "--from-env", "UI_KEY", "--exist-ok"])
    assert again.exit_code == 0 and again.stdout == ""
