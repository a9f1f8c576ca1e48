import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from contentgen import db
from contentgen.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from contentgen.i18n import translate_error
from contentgen.models import ApiToken, User
from contentgen.users import (
    Actor,
    Permission,
    Role,
    authenticate,
    create_api_token,
    create_user,
    get_user,
    parse_role,
    set_active,
    set_password,
    set_role,
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
    [("alice", PASSWORD, "alice"), ("alice", "wrong password", None), ("nobody", PASSWORD, None),
     ("ALICE", PASSWORD, "alice")],
    ids=["right", "wrong-password", "unknown-user", "other-case"],
)
def test_users_authenticate(database, username, password, expected):
    make_user("alice", "reviewer")
    with db.session_scope() as session:
        user = authenticate(session, username, password)
        found = user.username if user else None
    assert found == expected


def test_users_password_in_any_normal_form_logs_in(database):
    composed = "P\u00e4ssw\u00f6rd-\u5bc6\u78011"
    decomposed = "Pa\u0308sswo\u0308rd-\u5bc6\u78011"
    with db.session_scope() as session:
        create_user(session, "alice", decomposed, Role.REVIEWER)
    with db.session_scope() as session:
        assert authenticate(session, "alice", composed) is not None
        assert authenticate(session, "alice", decomposed) is not None


def test_users_hash_of_typed_password_still_works(database):
    decomposed = "Pa\u0308ssword-1"
    make_user("alice", "reviewer")
    with db.session_scope() as session:
        # A hash of the password as typed, as stored before passwords were normalized.
        session.scalars(select(User)).one().password_hash = PasswordHasher().hash(decomposed)
    with db.session_scope() as session:
        assert authenticate(session, "alice", decomposed) is not None
    with db.session_scope() as session:
        # That login stored the normalized form, so the browser's form logs in too.
        assert authenticate(session, "alice", "P\u00e4ssword-1") is not None


def test_users_set_password_replaces_old(database):
    make_user("alice", "reviewer")
    token = make_token("alice")
    with db.session_scope() as session:
        before = get_user(session, "alice").session_version
        set_password(session, "ALICE", "a new passphrase")
    with db.session_scope() as session:
        assert authenticate(session, "alice", PASSWORD) is None
        assert authenticate(session, "alice", "a new passphrase") is not None
        assert get_user(session, "alice").session_version == before + 1
        assert user_for_token(session, token) is not None


def test_users_set_password_short_changes_nothing(database):
    make_user("alice", "reviewer")
    with pytest.raises(InvalidInput, match="the password is too short"), db.session_scope() as session:
        set_password(session, "alice", "short")
    with db.session_scope() as session:
        assert authenticate(session, "alice", PASSWORD) is not None


def test_users_set_password_unknown_user(database):
    with pytest.raises(NotFound, match='user "bob" not found'), db.session_scope() as session:
        set_password(session, "bob", "a new passphrase")


def test_users_disabled_user_cannot_log_in_or_use_token(database):
    make_user("alice", "reviewer")
    token = make_token("alice")
    with db.session_scope() as session:
        set_active(session, "alice", False)
    with db.session_scope() as session:
        assert authenticate(session, "alice", PASSWORD) is None
        assert user_for_token(session, token) is None


def test_users_disable_revokes_tokens_and_sessions(database):
    make_user("alice", "reviewer")
    old_token = make_token("alice")
    with db.session_scope() as session:
        version_before = get_user(session, "alice").session_version

    with db.session_scope() as session:
        set_active(session, "alice", False)
    with db.session_scope() as session:
        set_active(session, "alice", True)

    with db.session_scope() as session:
        assert session.scalars(select(ApiToken)).all() == []
        assert user_for_token(session, old_token) is None
        assert get_user(session, "alice").session_version == version_before + 1
        assert authenticate(session, "alice", PASSWORD).username == "alice"
    new_token = make_token("alice")
    with db.session_scope() as session:
        assert user_for_token(session, new_token).username == "alice"


def test_users_disable_keeps_other_users_tokens(database):
    make_user("alice", "reviewer")
    make_user("bob", "reviewer")
    make_token("alice")
    bob_token = make_token("bob")
    with db.session_scope() as session:
        set_active(session, "alice", False)
    with db.session_scope() as session:
        assert user_for_token(session, bob_token).username == "bob"


def _users_state() -> list[tuple]:
    with db.session_scope() as session:
        return session.execute(
            select(User.username, User.role, User.is_active, User.session_version).order_by(User.id)
        ).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda session: set_active(session, "ana", False),
         'user "ana" is the only active admin, so they cannot be disabled; make another user admin first'),
        (lambda session: set_role(session, "ana", Role.REVIEWER),
         'user "ana" is the only active admin, so their role cannot change to reviewer; make another'),
        # The message names the stored user, whatever the letter case of the name given.
        (lambda session: set_active(session, "ANA", False),
         'user "ana" is the only active admin, so they cannot be disabled'),
        (lambda session: set_role(session, "ANA", Role.REVIEWER),
         'user "ana" is the only active admin, so their role cannot change to reviewer'),
    ],
    ids=["disable", "demote", "disable-other-case", "demote-other-case"],
)  # fmt: skip
def test_users_last_active_admin_is_kept(database, change, message):
    make_user("ana", "admin")
    make_user("otto", "admin")
    with db.session_scope() as session:
        set_active(session, "otto", False)
    make_user("rita", "reviewer")
    token = make_token("ana")
    before = _users_state()

    with pytest.raises(Conflict, match=message), db.session_scope() as session:
        change(session)

    assert _users_state() == before
    with db.session_scope() as session:
        assert user_for_token(session, token).username == "ana"


def test_users_admin_with_another_admin_can_go(database):
    make_user("ana", "admin")
    make_user("otto", "admin")
    with db.session_scope() as session:
        set_role(session, "ana", Role.REVIEWER)
    with pytest.raises(Conflict, match='user "otto" is the only active admin'), db.session_scope() as session:
        set_active(session, "otto", False)
    with db.session_scope() as session:
        set_active(session, "ana", False)

    users = [(username, role, active) for username, role, active, _ in _users_state()]
    assert users == [("ana", "reviewer", False), ("otto", "admin", True)]


def test_users_disabled_user_gets_no_token(database):
    make_user("rob", "reviewer")
    with db.session_scope() as session:
        set_active(session, "rob", False)

    with pytest.raises(Conflict) as raised, db.session_scope() as session:
        create_api_token(session, "rob")

    assert str(raised.value) == (
        "user rob is disabled, so it cannot get an API token; enable it first with: "
        "contentgen users enable rob. No token was created."
    )
    with db.session_scope() as session:
        set_active(session, "rob", True)
    with db.session_scope() as session:
        assert session.scalars(select(ApiToken)).all() == []


def test_users_permission_error_keeps_role_names(database):
    actor = Actor(1, "mia", Role.MARKETER, None)
    with pytest.raises(PermissionDenied) as raised:
        actor.require(Permission.ADMIN)

    assert str(raised.value) == "user mia has the role marketer, which may not manage users and templates; this needs the role admin"
    assert translate_error(raised.value, "zh-CN") == (
        "用户 mia 的角色是 marketer，无权执行“管理用户和模板”；此操作需要角色：admin"
    )


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
        ("bob\n", PASSWORD, 'username "bob\n" is not valid'),
        ("bob", "short", "the password is too short"),
        ("bob", " " * 9, "the password has only spaces or invisible characters"),
        ("bob", "\u200b" * 13, "the password has only spaces or invisible characters"),
        ("bob", "x" * 1025, "the password has 1025 characters; use at most 1024"),
        ("alice", PASSWORD, 'username "alice" is taken by "alice"'),
        ("Alice", PASSWORD, 'username "Alice" is taken by "alice"'),
        ("李明", PASSWORD, 'username "李明" is not valid; use 1 to 100 ASCII letters'),
    ],
    ids=["username", "newline", "password", "spaces", "zero-width-spaces", "long-password", "taken", "taken-other-case",
         "not-ascii"],
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


@pytest.mark.parametrize(("value", "role"), [("Admin", Role.ADMIN), ("REVIEWER", Role.REVIEWER), ("marketer", Role.MARKETER)])
def test_users_role_any_case(value, role):
    assert parse_role(value) is role


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


def test_users_concurrent_name_in_other_case_is_taken(database, monkeypatch):
    from contentgen import users

    make_user("rita", "reviewer")
    # As if another request created "rita" between this one's check and its insert.
    monkeypatch.setattr(users, "_holder_of_name", lambda session, name: None)
    with pytest.raises(InvalidInput, match='username "Rita" is taken by "Rita"'), db.session_scope() as session:
        create_user(session, "Rita", PASSWORD, Role.REVIEWER)
    with db.session_scope() as session:
        assert session.scalars(select(User.username)).all() == ["rita"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 101], ids=["empty", "blank", "too-long"])
def test_users_token_name_must_be_given(database, name):
    make_user("alice", "marketer")
    with pytest.raises(InvalidInput, match="token name .* is not valid; give 1 to 100 characters"):
        with db.session_scope() as session:
            create_api_token(session, "alice", name)
    with db.session_scope() as session:
        assert session.scalars(select(ApiToken)).all() == []


@pytest.mark.parametrize(
    ("tag", "stored"),
    [("zh-cn", "zh-CN"), ("ZH-CN", "zh-CN"), ("zh-CN", "zh-CN"), ("zh", "zh-CN"), ("zh-Hans", "zh-CN"),
     ("zh_CN", "zh-CN"), ("en", "en"), ("EN", "en"), ("en-US", "en"), ("en-GB", "en")],
)  # fmt: skip
def test_users_locale_tag_stored_canonical(database, tag, stored):
    with db.session_scope() as session:
        user = create_user(session, "li", PASSWORD, Role.REVIEWER, tag)
        assert user.locale == stored


@pytest.mark.parametrize("tag", ["zh-TW", "zh-Hant", "fr", ""])
def test_users_unsupported_locale_rejected(database, tag):
    with pytest.raises(InvalidInput, match='is not supported; use one of: en, zh-CN'), db.session_scope() as session:
        create_user(session, "li", PASSWORD, Role.REVIEWER, tag)


def test_users_password_length_counted_composed(database):
    # Eight code points as typed, four letters once composed.
    with pytest.raises(InvalidInput, match="the password is too short"), db.session_scope() as session:
        create_user(session, "alice", "a\u0308" * 4, Role.REVIEWER)
