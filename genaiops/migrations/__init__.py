"""Alembic migrations of the operational database (``settings.database_url``); run by ``genaiops.migrate``."""
