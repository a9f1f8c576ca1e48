"""The idempotency key of ``POST /api/v1/batches``, from the ``Idempotency-Key`` header or the
form field ``idempotency_key``.

The IETF draft "The Idempotency-Key HTTP Header Field"
(draft-ietf-httpapi-idempotency-key-header) defines the value as a Structured Field String
(RFC 8941, section 3.3.3). Such a string is printable ASCII in double quotes, with ``\\"``
and ``\\\\`` as the only escapes, and http-sfv parses it. Many APIs document the key without
quotes (``Idempotency-Key: <key>``), and clients send it either way, so both forms are
accepted.
"""

from __future__ import annotations

from fastapi import Request
from http_sfv import Item

from contentgen.errors import InvalidInput, shorten
from contentgen.i18n import N_

HEADER = "Idempotency-Key"


def idempotency_key(request: Request, form_value: str | None) -> str | None:
    """Return the request's idempotency key: the header's, the form field's, or None.

    Raises:
        InvalidInput: for a header given more than once, a header value that is not printable
            ASCII or not a valid quoted string, or a header and a form field that differ.
    """
    values = request.headers.getlist(HEADER)
    if len(values) > 1:
        raise InvalidInput.from_template(
            N_("the {header} header is given {count} times; send it once. Nothing was written."),
            header=HEADER,
            count=len(values),
        )
    if not values:
        return form_value

    header_value = _parse_header(values[0])
    if form_value is not None and form_value != header_value:
        raise InvalidInput.from_template(
            N_('the {header} header "{header_value}" and the form field idempotency_key '
               '"{form_value}" differ; send the key once, in either of them. Nothing was '
               "written."),
            header=HEADER,
            header_value=shorten(header_value),
            form_value=shorten(form_value),
        )  # fmt: skip
    return header_value


def _parse_header(value: str) -> str:
    """Return the key in a header value: the value itself, or the content of a quoted string.

    Raises:
        InvalidInput: for characters outside printable ASCII, or a broken quoted string.
    """
    # Starlette decodes header bytes as Latin-1, so a UTF-8 key would arrive garbled. RFC 8941
    # strings are printable ASCII only.
    if not all(" " <= character <= "~" for character in value):
        raise InvalidInput.from_template(
            N_("the {header} header contains characters outside printable ASCII, which HTTP "
               "headers do not carry reliably; use an ASCII key such as a UUID, or send the "
               "key in the form field idempotency_key. Nothing was written."),
            header=HEADER,
        )  # fmt: skip
    if not value.startswith('"'):
        return value
    item = Item()
    try:
        item.parse(value.encode("ascii"))
    except ValueError:
        item.value = None
    if not isinstance(item.value, str):
        raise InvalidInput.from_template(
            N_('the {header} header {value} is not a valid quoted string. Start and end a '
               'quoted key with ", and write a " or \\ inside it as \\" or \\\\, or send '
               "the key without quotes. Nothing was written."),
            header=HEADER,
            value=shorten(value),
        )  # fmt: skip
    return item.value

