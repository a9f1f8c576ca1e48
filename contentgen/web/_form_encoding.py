"""Reading URL-encoded form bodies whose non-ASCII text was sent without percent-encoding.

Browsers percent-encode every non-ASCII byte of a form, and Starlette decodes the escapes
as UTF-8. A client such as ``curl -d 'reason=不好'`` sends the UTF-8 bytes as they are,
and Starlette 1.10 decodes those raw bytes as Latin-1, so "不好" would arrive as mojibake.
This ASGI middleware percent-encodes each raw byte of 0x80 or above before the body
reaches Starlette, so both forms of a body give the same text.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_RAW_BYTE = re.compile(rb"[\x80-\xff]")
FORM_TYPE = "application/x-www-form-urlencoded"


def _escape(match: re.Match[bytes]) -> bytes:
    return b"%%%02X" % match.group()[0]


class PercentEncodeFormBody:
    """Percent-encode the raw non-ASCII bytes of ``application/x-www-form-urlencoded`` bodies.

    A body that declares a charset other than UTF-8 is passed on unchanged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_utf8_form(Headers(scope=scope).get("content-type", "")):
            await self.app(scope, receive, send)
            return

        async def receive_escaped() -> Message:
            message = await receive()
            if message["type"] == "http.request" and message.get("body"):
                # Each byte is escaped on its own, so a chunk boundary inside a character
                # does not matter.
                message = {**message, "body": _RAW_BYTE.sub(_escape, message["body"])}
            return message

        await self.app(scope, receive_escaped, send)


def _is_utf8_form(content_type: str) -> bool:
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    if media_type != FORM_TYPE:
        return False
    charsets = [value.strip('"') for name, _, value in (p.partition("=") for p in parameters) if name == "charset"]
    return all(charset in ("utf-8", "utf8") for charset in charsets)
