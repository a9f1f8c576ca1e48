"""The admin pages: users and prompt templates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from contentgen import db
from contentgen.errors import ContentgenError, InvalidInput, shorten
from contentgen.i18n import LOCALES, N_
from contentgen.templates import list_template_versions, sync_templates
from contentgen.users import Role, create_user, list_users, parse_role, set_active, set_role
from contentgen.web._errors import status_code_of
from contentgen.web._pages import Admin, CsrfChecked, message_of, notice_of, redirect_to
from contentgen.web._render import render

router = APIRouter(include_in_schema=False)


def _users_context(request: Request) -> dict[str, Any]:
    with db.session_scope() as session:
        users = [
            {"username": user.username, "role": user.role, "active": user.is_active,
             "locale": user.locale, "created_at": user.created_at}
            for user in list_users(session)
        ]  # fmt: skip
    return {"users": users, "roles": [role.value for role in Role], "locales": LOCALES,
            "notice": notice_of(request, "user_created", "role_changed", "user_enabled",
                                 "user_disabled"), "error": None}  # fmt: skip


def _users_error(request: Request, error: ContentgenError) -> Response:
    context = _users_context(request)
    context["error"] = message_of(request, error)
    return render(request, "users.html", context, status_code=status_code_of(error))


@router.get("/users")
def users_page(request: Request, actor: Admin) -> Response:
    return render(request, "users.html", _users_context(request))


@router.post("/users")
def add_user(
    request: Request,
    actor: Admin,
    _csrf: CsrfChecked,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    locale: Annotated[str, Form()] = "",
) -> Response:
    try:
        with db.session_scope() as session:
            create_user(session, username.strip(), password, parse_role(role), locale or None)
    except ContentgenError as error:
        return _users_error(request, error)
    return redirect_to("/users", notice="user_created", user=username.strip())


@router.post("/users/{username}/role")
def change_role(request: Request, username: str, actor: Admin, _csrf: CsrfChecked,
                role: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    try:
        with db.session_scope() as session:
            user = set_role(session, username, parse_role(role))
            # The notice names the stored user and role, not the letter case that was sent.
            stored_name, stored_role = user.username, user.role
    except ContentgenError as error:
        return _users_error(request, error)
    return redirect_to("/users", notice="role_changed", user=stored_name, role=stored_role)


@router.post("/users/{username}/active")
def change_active(request: Request, username: str, actor: Admin, _csrf: CsrfChecked,
                  active: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    try:
        enable = _parse_active(active)
        with db.session_scope() as session:
            stored_name = set_active(session, username, enable).username
    except ContentgenError as error:
        return _users_error(request, error)
    return redirect_to("/users", notice="user_enabled" if enable else "user_disabled", user=stored_name)


# Form values of the "active" field: 1 or true enables a user, 0 or false disables them.
_ACTIVE_VALUES = {"1": True, "true": True, "0": False, "false": False}


def _parse_active(value: str) -> bool:
    enable = _ACTIVE_VALUES.get(value.strip().lower())
    if enable is None:
        raise InvalidInput.from_template(
            N_('active "{value}" is not valid; send 1 or true to enable the user, 0 or false '
               "to disable them. Nothing was changed."),
            value=shorten(value),
        )  # fmt: skip
    return enable


@router.get("/templates")
def templates_page(request: Request, actor: Admin) -> Response:
    with db.session_scope() as session:
        versions = list_template_versions(session)
    return render(request, "prompt_templates.html", {"versions": versions, "notice": notice_of(request, "templates_synced")})


@router.post("/templates/sync")
def sync_page(request: Request, actor: Admin, _csrf: CsrfChecked) -> Response:
    with db.session_scope() as session:
        results = sync_templates(session)
    changed = sum(result.changed for result in results)
    return redirect_to("/templates", notice="templates_synced", changed=changed)
