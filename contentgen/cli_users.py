"""``contentgen users``: accounts and API tokens for the review pages and the JSON API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from contentgen import db
from contentgen.cli import JsonOption, _group, _print_json, console
from contentgen.cli_tables import utc_cell
from contentgen.errors import InvalidInput
from contentgen.models import utc_iso
from contentgen.users import (
    create_api_token,
    create_user,
    get_user,
    list_api_tokens,
    list_users,
    parse_role,
    revoke_api_token,
    set_active,
    set_password,
    set_role,
)

users_app = _group(
    "Create users, change their roles and passwords, disable them, issue and revoke API tokens."
)

RoleArgument = Annotated[str, typer.Argument(help="marketer, reviewer or admin.")]


def _read_password(from_stdin: bool, command: str) -> str:
    """Read a password from stdin's first line, or prompt twice on a terminal. ``command``
    is the command line to show in the example of piping it."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput("no password on standard input; pipe one line to --password-stdin")
        return password
    if not sys.stdin.isatty():
        raise InvalidInput(
            "no terminal to ask for the password on; pipe it to --password-stdin, e.g. "
            f"printf '%s\\n' \"$PASSWORD\" | {command} --password-stdin"
        )
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="marketer, reviewer or admin.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    locale: Annotated[
        str | None, typer.Option(help="Language of the pages: en or zh-CN; default: the browser's.")
    ] = None,
) -> None:
    """Create a user. The password is prompted for, or read from stdin with --password-stdin."""
    parsed_role = parse_role(role)
    password = _read_password(password_stdin, "contentgen users create NAME --role ROLE")
    db.check_schema()
    with db.session_scope() as session:
        create_user(session, username, password, parsed_role, locale)
    console.print(f"Created user {username} with role {parsed_role.value}.")


@users_app.command("set-password")
def users_set_password(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
) -> None:
    """Replace a user's password and log them out in every browser; API tokens keep working."""
    db.check_schema()
    with db.session_scope() as session:
        get_user(session, username)  # an unknown user is reported before the prompt
    password = _read_password(password_stdin, f"contentgen users set-password {username}")
    with db.session_scope() as session:
        user = set_password(session, username, password)
        stored_name = user.username
    console.print(f"Changed the password of user {stored_name} and ended their page sessions.")


@users_app.command("list")
def users_list(as_json: JsonOption = False) -> None:
    """List users with their roles."""
    db.check_schema()
    with db.session_scope() as session:
        items = [
            {
                "username": user.username,
                "role": user.role,
                "active": user.is_active,
                "locale": user.locale,
                "created_at": utc_iso(user.created_at),
            }
            for user in list_users(session)
        ]
    if as_json:
        _print_json(items)
        return
    table = Table("username", "role", "active", "language", "created (UTC)")
    for item in items:
        table.add_row(
            item["username"], item["role"], "yes" if item["active"] else "no",
            item["locale"] or "browser", utc_cell(item["created_at"]),
        )  # fmt: skip
    console.print(table)


@users_app.command("set-role")
def users_set_role(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: RoleArgument,
) -> None:
    """Give a user another role. The last active admin keeps the admin role."""
    parsed_role = parse_role(role)
    db.check_schema()
    with db.session_scope() as session:
        # The stored name, which may differ in letter case from the one typed.
        stored_name = set_role(session, username, parsed_role).username
    console.print(f"User {stored_name} now has role {parsed_role.value}.")


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Disable a user: end their page sessions and delete their API tokens at once.

    The last active admin cannot be disabled; make another user admin first.
    """
    db.check_schema()
    with db.session_scope() as session:
        stored_name = set_active(session, username, False).username
    console.print(f"User {stored_name} is disabled.")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Enable a disabled user again; they log in again and need new API tokens."""
    db.check_schema()
    with db.session_scope() as session:
        stored_name = set_active(session, username, True).username
    console.print(f"User {stored_name} is enabled.")


@users_app.command("token")
def users_token(
    username: Annotated[str, typer.Argument(help="Login name.")],
    name: Annotated[str, typer.Option(help="A label to recognise the token by.")] = "api",
) -> None:
    """Create an API bearer token for a user and print it; it cannot be shown again."""
    db.check_schema()
    with db.session_scope() as session:
        token = create_api_token(session, username, name)
    sys.stdout.write(token + "\n")
    typer.echo(
        "Send it as 'Authorization: Bearer TOKEN'. Only its digest is stored; copy it now.",
        err=True,
    )


@users_app.command("tokens")
def users_tokens(
    username: Annotated[str, typer.Argument(help="Login name.")],
    as_json: JsonOption = False,
) -> None:
    """List a user's API tokens by id, name and creation time (the tokens cannot be shown)."""
    db.check_schema()
    with db.session_scope() as session:
        items = [
            {"id": token.id, "name": token.name, "created_at": utc_iso(token.created_at)}
            for token in list_api_tokens(session, username)
        ]
        stored_name = get_user(session, username).username
    if as_json:
        _print_json(items)
        return
    if not items:
        console.print(f"User {stored_name} has no API tokens; create one with: contentgen users token {stored_name}")
        return
    table = Table("id", "name", "created (UTC)")
    for item in items:
        table.add_row(str(item["id"]), item["name"], utc_cell(item["created_at"]))
    console.print(table)


@users_app.command("revoke-token")
def users_revoke_token(
    username: Annotated[str, typer.Argument(help="Login name.")],
    token_id: Annotated[int, typer.Argument(help="The token's id, from: contentgen users tokens NAME.")],
) -> None:
    """Revoke one API token of a user; their other tokens and page sessions keep working."""
    db.check_schema()
    with db.session_scope() as session:
        token = revoke_api_token(session, username, token_id)
        name = token.name
        stored_name = get_user(session, username).username
    console.print(f"API token {token_id} ({name}) of user {stored_name} is revoked.", highlight=False)
