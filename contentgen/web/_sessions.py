"""Page sessions in a signed cookie, and the CSRF token that every form carries.

The cookie contains the user id, the user's session version, the time of login and a random
CSRF token. It is signed with itsdangerous, and nothing else is stored on the server. It is
HttpOnly (scripts cannot read it), SameSite=Lax (other sites' forms do not send it) and, with
``CONTENTGEN_SECURE_COOKIES``, Secure. A login lasts ``CONTENTGEN_SESSION_MINUTES`` from the
moment it was made, counted from ``login_at``: writing the cookie again (the login page
does) signs it anew but never extends the login. A visitor who is not logged in gets a
session without a user, so that the login form has a CSRF token too.

Logging out and disabling a user raise their ``User.session_version``, which rejects every
cookie made before, a copy taken earlier included, in every browser.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import asdict, dataclass
from enum import Enum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "contentgen_session"
# Seconds a browser keeps the cookie after the login it carries has ended.
EXPIRED_NOTICE_SECONDS = 12 * 3600


class SessionState(str, Enum):
    MISSING = "missing"
    VALID = "valid"
    EXPIRED = "expired"
    # Not signed with our key: forged, or signed with the key of an earlier server start.
    INVALID = "invalid"


@dataclass(frozen=True)
class PageSession:
    csrf_token: str
    user_id: int | None = None
    login_at: float | None = None
    # The user's session_version at login; cookies made before this field existed have 0.
    session_version: int = 0

    @classmethod
    def anonymous(cls) -> PageSession:
        return cls(csrf_token=secrets.token_urlsafe(32))

    @classmethod
    def for_user(cls, user_id: int, session_version: int) -> PageSession:
        # A new CSRF token at login, so a token seen before login is worth nothing after.
        return cls(
            csrf_token=secrets.token_urlsafe(32),
            user_id=user_id,
            login_at=time.time(),
            session_version=session_version,
        )


class SessionCookies:
    """Reads and writes the session cookie with one signing key and lifetime."""

    def __init__(self, secret_key: str, max_age_seconds: int, secure: bool) -> None:
        self.serializer = URLSafeTimedSerializer(secret_key, salt="contentgen.page-session")
        self.max_age = max_age_seconds
        self.secure = secure

    def read(self, request: Request) -> tuple[PageSession | None, SessionState]:
        """Return the request's session and whether it was missing, valid, expired or forged.

        The result is kept on ``request.state``, so later reads in the same request are free.
        """
        cached = getattr(request.state, "page_session", None)
        if cached is not None:
            return cached
        result = self._load(request.cookies.get(COOKIE_NAME))
        request.state.page_session = result
        return result

    def _load(self, cookie: str | None) -> tuple[PageSession | None, SessionState]:
        if not cookie:
            return None, SessionState.MISSING
        try:
            values = self.serializer.loads(cookie, max_age=self.max_age)
            page_session = PageSession(**values)
        except SignatureExpired:
            return None, SessionState.EXPIRED
        except (BadSignature, TypeError, ValueError):
            return None, SessionState.INVALID
        if page_session.user_id is not None and self._seconds_left(page_session) <= 0:
            return None, SessionState.EXPIRED
        return page_session, SessionState.VALID

    def _seconds_left(self, session: PageSession) -> int:
        if session.user_id is None:
            return self.max_age
        if not isinstance(session.login_at, int | float):
            return 0
        return int(session.login_at + self.max_age - time.time())

    def write(self, response: Response, session: PageSession) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self.serializer.dumps(asdict(session)),
            # The browser keeps the cookie a while past the login's end, so that the next
            # request shows "Your session expired" instead of a plain login page.
            max_age=max(0, self._seconds_left(session)) + EXPIRED_NOTICE_SECONDS,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=self.secure)


def tokens_match(expected: str, given: str | None) -> bool:
    """Compare CSRF tokens in constant time."""
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())
