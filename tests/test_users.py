import pytest
from sqlalchemy import select

from contentgen import db
from contentgen.errors import InvalidInput, NotFound, PermissionDenied
from contentgen.models import ApiToken, User
from contentgen.users import (
    Actor,
    Permission,
    Role,
    authenticate,
    create_user,
    parse_role,
    set_active,
    user_for_token,
)

from .seeding import PASSWORD, make_token, make_user


def test_users_password_is_stored_as_argon2_hash(database):
    make_user("alice", "reviewer")
    with db.session_scope() as session:
        stored = session.scalars(select(User.password_hash)).one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("username", "password", "expected"),
    [("alice", PASSWORD, "alice"), ("alice", "wrong password", None), ("nobody", PASSWORD, None)],
    ids=["right", "wrong-password", "unknown-user"],
)
def test_users_authenticate(database, username, password, expected):
    make_user("alice", "reviewer")
    with db.session_scope() as session:
        user = authenticate(session, username, password)
        found = user.username if user else None
    assert found == expected


def test_users_disabled_user_cannot_log_in_or_use_token(database):
    make_user("alice", "reviewer")
    token = make_token("alice")
    with db.session_scope() as session:
        set_active(session, "alice", False)
    with db.session_scope() as session:
        assert authenticate(session, "alice", PASSWORD) is None
        assert user_for_token(session, token) is None


def test_users_token_is_stored_as_digest(database):
    make_user("alice", "marketer")
    token = make_token("alice")
    with db.session_scope() as session:
        stored = session.scalars(select(ApiToken.token_hash)).one()
        owner = user_for_token(session, token)
        assert owner.username == "alice"
        assert user_for_token(session, token + "x") is None
    assert token not in stored
    assert len(stored) == 64


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("bad name", PASSWORD, 'username "bad name" is not valid'),
        ("bob", "short", "the password is too short"),
        ("alice", PASSWORD, 'username "alice" is taken'),
    ],
    ids=["username", "password", "taken"],
)
def test_users_create_rejects_bad_input(database, username, password, message):
    make_user("alice", "reviewer")
    with pytest.raises(InvalidInput, match=message), db.session_scope() as session:
        create_user(session, username, password, Role.MARKETER)
    with db.session_scope() as session:
        assert session.scalars(select(User.username)).all() == ["alice"]


def test_users_unknown_role_names_the_roles():
    with pytest.raises(InvalidInput, match="use one of: marketer, reviewer, admin"):
        parse_role("editor")


def test_users_unknown_user_not_found(database):
    with pytest.raises(NotFound, match='user "ghost" not found'), db.session_scope() as session:
        set_active(session, "ghost", False)


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        ("marketer", Permission.SUBMIT, True),
        ("marketer", Permission.REVIEW, False),
        ("reviewer", Permission.REVIEW, True),
        ("reviewer", Permission.SUBMIT, False),
        ("reviewer", Permission.EXPORT, True),
        ("admin", Permission.ADMIN, True),
        ("marketer", Permission.ADMIN, False),
    ],
    ids=lambda value: str(getattr(value, "value", value)),
)
def test_users_role_permissions(role, permission, allowed):
    actor = Actor(1, "someone", Role(role), None)
    assert actor.can(permission) is allowed
    if not allowed:
        with pytest.raises(PermissionDenied, match=f"role {role}, which may not"):
            actor.require(permission)
