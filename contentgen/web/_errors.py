"""HTTP status codes for contentgen's errors, shared by the API and the pages."""

from __future__ import annotations

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
