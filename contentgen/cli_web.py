"""``contentgen serve``: the review pages and the JSON API."""

from __future__ import annotations

from typing import Annotated

import typer

from contentgen import db
from contentgen.settings import get_settings


def serve_command(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on; default: CONTENTGEN_HOST (127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on; default: CONTENTGEN_PORT (8000).")
    ] = None,
) -> None:
    """Serve the review pages and the JSON API under /api/v1."""
    import uvicorn

    from contentgen.web import create_app

    settings = get_settings()
    db.check_schema()
    app = create_app(settings)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info")
