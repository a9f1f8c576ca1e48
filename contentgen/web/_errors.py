"""HTTP status codes for contentgen's errors, and request validation errors as text and JSON,
shared by the API and the pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contentgen.errors import (
    Conflict,
    ContentgenError,
    InfrastructureError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from contentgen.web._auth import CsrfFailed, NotAuthenticated

# The first class that matches wins, so subclasses come before InvalidInput.
STATUS_CODES: list[tuple[type[ContentgenError], int]] = [
    (NotAuthenticated, 401),
    (PermissionDenied, 403),
    (CsrfFailed, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (InfrastructureError, 503),
]


def status_code_of(error: ContentgenError) -> int:
    for error_class, status_code in STATUS_CODES:
        if isinstance(error, error_class):
            return status_code
    return 500


def validation_problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Return FastAPI's request validation errors as JSON-safe dicts with loc, msg and type.

    The raw errors can hold the exception that failed (in ``ctx``) and the whole input,
    which JSON cannot encode or which may be megabytes long, so both are left out.
    """
    problems = []
    for error in errors:
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        if "Expected UploadFile" in message:
            message = (
                "expected an uploaded file but got a text field; send the file's contents, "
                "e.g. with curl: -F file=@campaigns.yaml"
            )
        location = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        if error.get("type") == "extra_forbidden":
            kind = "parameter" if location[:1] == ["query"] else "field"
            message = f"unknown {kind}; correct its spelling or remove it (/api/v1/docs lists them)"
        problems.append({"loc": location, "msg": message, "type": str(error.get("type", ""))})
    return problems


def validation_message(problems: list[dict[str, Any]]) -> str:
    """Join problems from ``validation_problems`` into one line, each after its field name."""
    return "; ".join(f"{_field_name(problem['loc'])}: {problem['msg']}" for problem in problems)


def _field_name(location: list[Any]) -> str:
    # ["body", "filter", "campaign"] is the field filter.campaign; ["body"] alone, or
    # ["body", 12] for a JSON syntax error at character 12, is the request body.
    parts = [str(part) for part in location if part != "body"]
    if not parts or (len(location) == 2 and location[0] == "body" and isinstance(location[1], int)):
        return "request body"
    if parts[0] == "query" and len(parts) > 1:
        return f'query parameter "{".".join(parts[1:])}"'
    return ".".join(parts)
