"""Security headers on every response.

No page may be shown inside a frame, so another site, or another application on the same
host, cannot overlay the review buttons and trick a reviewer into a click. Browsers that
know CSP follow ``frame-ancestors``; older ones follow ``X-Frame-Options``.

Every response but the static files is marked ``Cache-Control: no-store``: drafts, user
lists and exports are private, and neither a browser's cache nor a proxy may keep them. An
error under a static path, such as the 404 page of a missing file, is a page like any other:
it shows the user's name and the session's CSRF token.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


# Paths of files that are the same for every user: the pages' styles and scripts, and
# Swagger UI's.
CACHEABLE_PREFIXES = ("/static/", "/api/v1/docs/static/")
# The statuses of a static file response: the file, part of it, or a confirmation that the
# browser's copy is current. Any other status under a static path is an error page.
STATIC_FILE_STATUSES = frozenset({200, 206, 304})


class SecurityHeaders:
    """ASGI middleware that adds ``SECURITY_HEADERS`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        static_path = scope["path"].startswith(CACHEABLE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if not (static_path and message["status"] in STATIC_FILE_STATUSES):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
