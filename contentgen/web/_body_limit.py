"""A limit on the size of request bodies, applied before any of the body is read.

Starlette reads a form in full (spooling uploaded files to disk) before a route, its login
check or its own size check runs. This ASGI middleware responds with 413 at once when the
Content-Length header is over the limit. For a body without one (chunked transfer
encoding) it stops reading as soon as the bytes received pass the limit.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contentgen.i18n import N_, negotiate, translations
from contentgen.web._render import render
from contentgen.web._submit import MAX_UPLOAD_BYTES

logger = logging.getLogger(__name__)

# A campaign file of up to 5 MiB plus the form's other fields and multipart framing.
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES + 1024 * 1024

TOO_LARGE = N_(
    "the request is larger than {limit}; upload a campaign file of at most 5 MiB, "
    "or split it into several files"
)
# For requests that carry no campaign file: forms, JSON bodies and the login.
TOO_LARGE_FORM = N_("the request is larger than {limit}; send less text")


class RequestTooLarge(HTTPException):
    """A body that passed the limit while a route was reading it.

    It is an ``HTTPException`` so that FastAPI passes it on from its body parsing (other
    errors there become 400) and the app's handler renders it as JSON or as a page.
    """

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


class RequestBodyLimit:
    """Reject requests whose body is over ``max_bytes`` with 413 and a message naming the limit.

    Args:
        app: the ASGI app to protect.
        max_bytes: the largest body accepted, in bytes.
        api_prefix: paths under it get a JSON error; other paths get the error page.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, api_prefix: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            logger.info("rejected %s %s: Content-Length %d is over the limit of %d bytes",
                        scope["method"], scope["path"], declared, self.max_bytes)  # fmt: skip
            # Nothing of the body is read, so the connection cannot serve another request.
            response = self._error_response(scope)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return

        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    logger.info("rejected %s %s: the body passed the limit of %d bytes",
                                scope["method"], scope["path"], self.max_bytes)  # fmt: skip
                    raise RequestTooLarge(self._message(scope))
            return message

        await self.app(scope, receive_within_limit, send)

    def _message(self, scope: Scope) -> str:
        # The user's own language setting is read after the body, so the browser's
        # Accept-Language chooses the language here.
        locale = negotiate(Headers(scope=scope).get("accept-language"))
        limit = f"{self.max_bytes / (1024 * 1024):g} MiB"
        uploads = scope["path"] in ("/batches", f"{self.api_prefix}/batches")
        message = TOO_LARGE if uploads else TOO_LARGE_FORM
        return translations(locale).gettext(message).format(limit=limit)

    def _error_response(self, scope: Scope) -> Response:
        message = self._message(scope)
        path = scope["path"]
        if path == self.api_prefix or path.startswith(self.api_prefix + "/"):
            return JSONResponse({"detail": message}, status_code=413)
        context = {"message": message, "status_code": 413}
        return render(Request(scope), "error.html", context, status_code=413)


def _content_length(scope: Scope) -> int | None:
    """Return the Content-Length header as a number, or None when it is missing or invalid."""
    value = Headers(scope=scope).get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
