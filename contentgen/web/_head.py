"""HEAD requests, run as GET with the body left out.

HTTP/1.1 requires general-purpose servers to support HEAD, with the headers that GET would
send and no body (RFC 2616, sections 5.1.1 and 9.4; RFC 9110, section 9.3.2, defines HEAD
now). FastAPI's GET routes do not accept HEAD, so load balancers and uptime checks that
send it would get 405.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """ASGI middleware that runs a HEAD request as GET and drops the response body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
            elif not message.get("more_body", False):
                # Content-Length stays as GET's, which is what HEAD reports.
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)
