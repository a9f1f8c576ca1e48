"""``contentgen serve``: the review pages and the JSON API."""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from contentgen import db
from contentgen.errors import EXIT_FAILURE, InfrastructureError, InvalidInput
from contentgen.settings import get_settings


def serve_command(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on; default: CONTENTGEN_HOST (127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port to listen on, 1 to 65535; default: CONTENTGEN_PORT (8000)."),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated addresses of reverse proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto headers name the client; default: none, so the headers are ignored.",
        ),
    ] = None,
) -> None:
    """Serve the review pages and the JSON API under /api/v1."""
    if port is not None and not 1 <= port <= 65535:
        raise InvalidInput(f"--port {port} is out of range; pass a port from 1 to 65535")
    import uvicorn

    from contentgen.web import create_app

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    db.check_schema()
    check_address_free(host, port)
    app = create_app(settings)
    try:
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default, and every client of a
        # server on 127.0.0.1 comes from there: any of them could then choose the address
        # that the failed-login limit and the logs see.
        uvicorn.run(
            app, host=host, port=port, log_level="info",
            proxy_headers=forwarded_allow_ips is not None,
            forwarded_allow_ips=forwarded_allow_ips or "",
        )  # fmt: skip
    except SystemExit as stop:
        # uvicorn logs why it could not start and exits with its own code 3, which is not
        # one of contentgen's exit codes.
        if stop.code not in (None, 0):
            raise typer.Exit(EXIT_FAILURE) from None
        raise


def check_address_free(host: str, port: int) -> None:
    """Bind ``host``:``port`` once, the way uvicorn does, and release it again.

    Raises:
        InfrastructureError: naming the address, if it cannot be bound (the port is in use,
            the host is not an address of this machine, or binding needs privileges).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            reason = error.strerror or str(error)
            raise InfrastructureError(
                f"cannot listen on {host}:{port}: {reason}. If the port is in use, stop the "
                "program that uses it or choose another port with --port; otherwise check --host"
            ) from None
