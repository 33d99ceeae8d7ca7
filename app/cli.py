"""``genaiops serve``: run the API with uvicorn."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        ctx: typer.Context,
        host: str = typer.Option(None, help="Default: settings api.host."),
        port: int = typer.Option(None, help="Default: $PORT, else settings api.port."),
    ) -> None:
        """Serve the API (e.g. `genaiops serve --port 8000`)."""
        import os

        from app.main import create_app
        from app.server import run_api
        from genaiops.cli import settings_from

        settings = settings_from(ctx)
        settings.ensure_dirs()
        port = port or int(os.environ.get("PORT", settings.api.port))
        run_api(create_app(settings), settings, host or settings.api.host, port)
