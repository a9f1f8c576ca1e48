"""Reading URL-encoded form bodies whose non-ASCII text was sent without percent-encoding,
and rejecting bodies that are not UTF-8.

Browsers percent-encode every non-ASCII byte of a form, and Starlette decodes the escapes
as UTF-8. A client such as ``curl -d 'reason=不好'`` sends the UTF-8 bytes as they are,
and Starlette 1.10 decodes those raw bytes as Latin-1, so "不好" would arrive as mojibake.
This ASGI middleware percent-encodes each raw byte of 0x80 or above before the body
reaches Starlette, so both forms of a body give the same text. Starlette replaces bytes
that are not UTF-8 with U+FFFD, which would then be stored in drafts and exports, so a
body with such bytes (raw or percent-encoded) is rejected with 400 instead.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contentgen.i18n import N_, negotiate, translations

logger = logging.getLogger(__name__)

_RAW_BYTE = re.compile(rb"[\x80-\xff]")
FORM_TYPE = "application/x-www-form-urlencoded"
NOT_UTF8 = N_(
    "the form data is not UTF-8 text; send it as UTF-8, percent-encoded as browsers do "
    "(curl --data-urlencode does it). Nothing was saved."
)


class InvalidFormEncoding(HTTPException):
    """A form body that is not UTF-8, raised while a route reads it.

    It is an ``HTTPException`` so that FastAPI passes it on from its body parsing and the
    app's handler renders it as JSON or as a page.
    """

    def __init__(self, message: str) -> None:
        super().__init__(status_code=400, detail=message)


def _escape(match: re.Match[bytes]) -> bytes:
    return b"%%%02X" % match.group()[0]


class PercentEncodeFormBody:
    """Percent-encode the raw non-ASCII bytes of ``application/x-www-form-urlencoded``
    bodies, and reject a body whose bytes are not UTF-8.

    A body that declares a charset other than UTF-8 is passed on unchanged. The body is read
    whole before the route gets it, which the request body limit around this middleware
    keeps small.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_utf8_form(Headers(scope=scope).get("content-type", "")):
            await self.app(scope, receive, send)
            return

        body_sent = False

        async def receive_checked() -> Message:
            nonlocal body_sent
            if body_sent:
                return await receive()
            chunks = []
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return message
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body = _RAW_BYTE.sub(_escape, b"".join(chunks))
            try:
                parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
            except UnicodeDecodeError:
                logger.info("rejected %s %s: the form body is not UTF-8", scope["method"], scope["path"])
                locale = negotiate(Headers(scope=scope).get("accept-language"))
                raise InvalidFormEncoding(translations(locale).gettext(NOT_UTF8)) from None
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, receive_checked, send)


def _is_utf8_form(content_type: str) -> bool:
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    if media_type != FORM_TYPE:
        return False
    charsets = [value.strip('"') for name, _, value in (p.partition("=") for p in parameters) if name == "charset"]
    return all(charset in ("utf-8", "utf8") for charset in charsets)
