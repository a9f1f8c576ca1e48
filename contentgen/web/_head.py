"""HEAD requests, answered as GET without the body.

HTTP requires a server that answers GET on a path to answer HEAD there too, with the same
headers (RFC 9110, section 9.3.2). FastAPI's routes list GET only, so load balancers and
uptime checks that send HEAD would get 405.
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
