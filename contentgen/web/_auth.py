"""Authentication: page sessions and API bearer tokens turned into an ``Actor`` with a role.

Anonymous page requests are sent to the login page, anonymous API requests get 401, and a
role without the permission gets 403 (``PermissionDenied``). The user row is read on every
request, so disabling a user or changing a role takes effect at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contentgen import db
from contentgen.errors import ContentgenError
from contentgen.i18n import N_
from contentgen.models import User
from contentgen.users import Actor, Permission, user_for_token
from contentgen.web._sessions import PageSession, SessionState, tokens_match


class LoginRequired(ContentgenError):
    """A page request without a valid login; the app redirects it to the login page."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("log in to see this page")
        self.expired = expired


class NotAuthenticated(ContentgenError):
    """An API request without a valid bearer token (401)."""


class CsrfFailed(ContentgenError):
    """A form whose CSRF token is missing or is not the session's (403)."""


bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An API token from `contentgen users token USERNAME`.",
)


def _load_actor(page_session: PageSession) -> Actor | None:
    """Return the session's user, or None if the user is gone, disabled or was disabled
    after this login."""
    with db.session_scope() as session:
        user = session.get(User, page_session.user_id)
        if user is None or not user.is_active:
            return None
        if user.session_version != page_session.session_version:
            return None
        return Actor.of(user)


def current_page_actor(request: Request) -> Actor:
    """Return the logged-in user of a page request, or raise ``LoginRequired``."""
    page_session, state = request.app.state.cookies.read(request)
    if page_session is None or page_session.user_id is None:
        raise LoginRequired(expired=state == SessionState.EXPIRED)
    actor = _load_actor(page_session)
    if actor is None:
        raise LoginRequired()
    request.state.actor = actor
    return actor


def identify_page_actor(request: Request) -> Actor | None:
    """Return the logged-in user of a page request, or None.

    Pages that need no login, such as the error page of an unknown path, call it so that they
    show the user's menu and language.
    """
    known = getattr(request.state, "actor", None)
    if known is not None:
        return known
    page_session, _ = request.app.state.cookies.read(request)
    if page_session is None or page_session.user_id is None:
        return None
    actor = _load_actor(page_session)
    if actor is not None:
        request.state.actor = actor
    return actor


def page_actor(permission: Permission):
    """A dependency that returns the logged-in user if their role grants ``permission``."""

    def dependency(actor: Annotated[Actor, Depends(current_page_actor)]) -> Actor:
        actor.require(permission)
        return actor

    return dependency


async def check_csrf(request: Request) -> None:
    """Raise ``CsrfFailed`` unless the form's ``csrf_token`` is the session's token."""
    page_session, _ = request.app.state.cookies.read(request)
    form = await request.form()
    given = form.get("csrf_token")
    if page_session is None or not tokens_match(page_session.csrf_token, given if isinstance(given, str) else None):
        raise CsrfFailed.from_template(
            N_("the form's security token is missing or does not match your session, so "
               "nothing was changed; reload the page and submit the form again")
        )  # fmt: skip


def current_api_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Actor:
    """Return the owner of the request's bearer token, or raise ``NotAuthenticated``."""
    if credentials is None:
        raise NotAuthenticated.from_template(
            N_("missing bearer token; send the header 'Authorization: Bearer TOKEN' with a "
               "token from: contentgen users token USERNAME")
        )  # fmt: skip
    with db.session_scope() as session:
        user = user_for_token(session, credentials.credentials)
        actor = Actor.of(user) if user is not None else None
    if actor is None:
        raise NotAuthenticated.from_template(
            N_("the bearer token is not valid, or its user is disabled; create a new one "
               "with: contentgen users token USERNAME")
        )  # fmt: skip
    request.state.actor = actor
    return actor


def api_actor(permission: Permission):
    """A dependency that returns the token's user if their role grants ``permission``."""

    def dependency(actor: Annotated[Actor, Depends(current_api_actor)]) -> Actor:
        actor.require(permission)
        return actor

    return dependency
