"""Users, their roles and credentials: passwords for the pages, bearer tokens for the API.

Passwords are hashed with Argon2id (argon2-cffi's defaults), after Unicode normalization to
NFC: a browser sends "ä" as one code point, but a macOS terminal may send "a" and a
combining diaeresis, and both must log in. API tokens are random 256-bit
strings, so a plain SHA-256 digest is enough to store them: unlike a password, a token cannot
be guessed from a dictionary, and a fast digest lets every API request look its token up.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contentgen.errors import Conflict, InvalidInput, NotFound, PermissionDenied, shorten
from contentgen.i18n import LOCALES, N_, Verbatim, join_alternatives, match_locale
from contentgen.models import ApiToken, User, id_in_range

logger = logging.getLogger(__name__)

# Messages that name a command as the fix. The web app words them for its readers in
# contentgen.web._errors.
USER_NOT_FOUND = N_('user "{username}" not found; list users with: contentgen users list')
LAST_ADMIN_ROLE = N_(
    'user "{username}" is the only active admin, so their role cannot change to {role}; '
    "make another user admin first, with: contentgen users set-role USERNAME admin. Nothing "
    "was changed."
)
LAST_ADMIN_DISABLED = N_(
    'user "{username}" is the only active admin, so they cannot be disabled; make another '
    "user admin first, with: contentgen users set-role USERNAME admin. Nothing was changed."
)
NO_SUCH_TOKEN = N_(
    "user {username} has no API token {token_id}; list the tokens with: contentgen users "
    "tokens {username}"
)


class Role(str, enum.Enum):
    MARKETER = "marketer"
    REVIEWER = "reviewer"
    ADMIN = "admin"


class Permission(str, enum.Enum):
    # Read batches, the review queue and drafts.
    VIEW = "view"
    SUBMIT = "submit"
    REVIEW = "review"
    EXPORT = "export"
    # Manage users and prompt templates.
    ADMIN = "admin"


# The verb phrase of each permission, as in "user mia ... may not submit".
PERMISSION_ACTIONS: dict[Permission, str] = {
    Permission.VIEW: "view",
    Permission.SUBMIT: "submit",
    Permission.REVIEW: "review",
    Permission.EXPORT: "export",
    Permission.ADMIN: "manage users and templates",
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.MARKETER: frozenset({Permission.VIEW, Permission.SUBMIT, Permission.EXPORT}),
    Role.REVIEWER: frozenset({Permission.VIEW, Permission.REVIEW, Permission.EXPORT}),
    Role.ADMIN: frozenset(Permission),
}

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
TOKEN_PREFIX = "cg_"

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Return a hash to verify against when the username is unknown.

    A login then takes as long whether or not the user exists. The hash is made on first
    use, because one Argon2 hash took about 0.2 s of each command's start on a 2-core CPU.
    """
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Actor:
    """The signed-in user, detached from any database session."""

    id: int
    username: str
    role: Role
    locale: str | None

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(user.id, user.username, Role(user.role), user.locale)

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        """Raise ``PermissionDenied`` unless the user's role grants ``permission``."""
        if not self.can(permission):
            allowed = [role.value for role, granted in ROLE_PERMISSIONS.items() if permission in granted]
            raise PermissionDenied.from_template(
                N_("user {username} has the role {role}, which may not {permission}; "
                   "this needs the role {allowed}"),
                username=self.username,
                role=Verbatim(self.role.value),
                permission=PERMISSION_ACTIONS[permission],
                allowed=Verbatim(join_alternatives(allowed)),
            )  # fmt: skip


def parse_role(value: str) -> Role:
    """Return the role named ``value``, in any letter case ("Admin" is admin).

    Raises:
        InvalidInput: naming the roles there are.
    """
    try:
        return Role(value.lower())
    except ValueError:
        raise InvalidInput.from_template(
            N_('role "{value}" is not known; use one of: {roles}'),
            value=shorten(value),
            roles=", ".join(role.value for role in Role),
        ) from None


def _check_username(username: str) -> None:
    if not USERNAME_PATTERN.fullmatch(username):
        shown = username if len(username) <= 100 else username[:100] + "…"
        raise InvalidInput.from_template(
            N_('username "{username}" is not valid; use 1 to 100 ASCII letters, digits, '
               "and _ . @ -, starting with a letter or digit"),
            username=shown,
        )  # fmt: skip


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput.from_template(
            N_("the password is too short; use at least {minimum} characters"),
            minimum=MIN_PASSWORD_LENGTH,
        )
    # Far more than anyone types, and far below the 1 MiB that the login form takes per field.
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput.from_template(
            N_("the password has {length} characters; use at most {maximum}"),
            length=len(password),
            maximum=MAX_PASSWORD_LENGTH,
        )
    if not any(character.isprintable() and not character.isspace() for character in password):
        raise InvalidInput.from_template(
            N_("the password has only spaces or invisible characters; use letters, digits or "
               "symbols too")
        )  # fmt: skip


def _canonical_locale(locale: str | None) -> str | None:
    # A tag is stored as the supported locale that would serve it in Accept-Language, so
    # "zh-cn", "zh-Hans" and "zh_CN" are stored as "zh-CN", and "en-US" as "en".
    if locale is None:
        return None
    supported = match_locale(locale)
    if supported is not None:
        return supported
    raise InvalidInput.from_template(
            N_('language "{value}" is not supported; use one of: {locales}'),
            value=shorten(locale),
            locales=", ".join(LOCALES),
        )


def create_user(
    session: Session, username: str, password: str, role: Role, locale: str | None = None
) -> User:
    """Add a user with an Argon2 hash of ``password``; the caller commits.

    Raises:
        InvalidInput: for a malformed username, a short password, an unknown locale or a
            username that is taken. The locale is matched regardless of case.
    """
    _check_username(username)
    # Checked in the form it is stored in, so that its length does not depend on how the
    # terminal or browser encoded the letters.
    password = unicodedata.normalize("NFC", password)
    _check_password(password)
    locale = _canonical_locale(locale)
    taken = _holder_of_name(session, username)
    if taken is not None:
        raise _name_taken(username, taken)

    user = User(
        username=username,
        password_hash=_hash_password(password),
        role=role.value,
        is_active=True,
        locale=locale,
    )
    # The unique index on lower(username) catches a name created by a concurrent request
    # after the check above.
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise _name_taken(username, _holder_of_name(session, username) or username) from None
    logger.info("user %s created with role %s", username, role.value)
    return user


def _holder_of_name(session: Session, username: str) -> str | None:
    # Names that differ only in case ("rita", "Rita") would look like one person in the
    # review history, so they count as taken.
    return session.scalars(
        select(User.username).where(func.lower(User.username) == username.lower()).limit(1)
    ).first()


def _name_taken(username: str, taken: str) -> InvalidInput:
    return InvalidInput.from_template(
        N_('username "{username}" is taken by "{taken}"; choose another'),
        username=username,
        taken=taken,
    )


def _find_user(session: Session, username: str) -> User | None:
    # No username contains NUL (see USERNAME_PATTERN), and PostgreSQL rejects a query
    # parameter with one.
    if "\x00" in username:
        return None
    exact = session.scalars(select(User).where(User.username == username)).one_or_none()
    if exact is not None:
        return exact
    # Usernames are unique regardless of case, except among users created before that
    # rule, where a name in other case matches none.
    matches = session.scalars(
        select(User).where(func.lower(User.username) == username.lower()).limit(2)
    ).all()
    return matches[0] if len(matches) == 1 else None


def get_user(session: Session, username: str) -> User:
    """Look a user up by name.

    Raises:
        NotFound: if there is no such user.
    """
    user = _find_user(session, username)
    if user is None:
        raise NotFound.from_template(USER_NOT_FOUND, username=shorten(username))
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def _is_last_active_admin(session: Session, user: User) -> bool:
    if user.role != Role.ADMIN.value or not user.is_active:
        return False
    # Locking every active admin makes a concurrent demotion or disabling of another admin
    # wait for this transaction, so two of them cannot leave no admin between them.
    admin_ids = session.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN.value, User.is_active.is_(True))
        .with_for_update()
    ).all()
    return set(admin_ids) <= {user.id}


def set_role(session: Session, username: str, role: Role) -> User:
    """Give a user another role.

    Raises:
        NotFound: if there is no such user.
        Conflict: if the user is the last active admin and ``role`` is not admin.
    """
    user = get_user(session, username)
    if role is not Role.ADMIN and _is_last_active_admin(session, user):
        raise Conflict.from_template(LAST_ADMIN_ROLE, username=user.username, role=role.value)
    user.role = role.value
    logger.info("user %s now has role %s", user.username, role.value)
    return user


def set_active(session: Session, username: str, active: bool) -> User:
    """Enable or disable a user.

    Disabling deletes the user's API tokens and ends their page sessions, so that enabling
    them again does not bring old credentials back: they log in again and get new tokens.

    Raises:
        NotFound: if there is no such user.
        Conflict: when disabling the last active admin.
    """
    user = get_user(session, username)
    if active:
        user.is_active = True
        logger.info("user %s enabled", user.username)
        return user

    if _is_last_active_admin(session, user):
        raise Conflict.from_template(LAST_ADMIN_DISABLED, username=user.username)
    user.is_active = False
    user.session_version += 1
    revoked = session.execute(delete(ApiToken).where(ApiToken.user_id == user.id)).rowcount
    logger.info("user %s disabled; %d API tokens deleted and page sessions ended", user.username, revoked)
    return user


def end_page_sessions(session: Session, user_id: int) -> None:
    """End every page session of a user, in every browser, by raising their session version."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user id {user_id} not found")
    user.session_version += 1
    logger.info("user %s logged out; every page session ended", user.username)


def set_locale(session: Session, user_id: int, locale: str | None) -> User:
    """Set the language of a user's pages; None follows the browser's Accept-Language."""
    locale = _canonical_locale(locale)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user id {user_id} not found")
    user.locale = locale
    return user


def set_password(session: Session, username: str, password: str) -> User:
    """Replace a user's password and end their page sessions in every browser.

    The user's API tokens keep working: revoke them with ``revoke_api_token`` if they may
    have leaked too.

    Raises:
        NotFound: if there is no such user.
        InvalidInput: for a password that is too short, too long or has only spaces.
    """
    password = unicodedata.normalize("NFC", password)
    _check_password(password)
    user = get_user(session, username)
    user.password_hash = _hash_password(password)
    user.session_version += 1
    logger.info("password of user %s changed; every page session ended", user.username)
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """Return the active user with this username and password, else None."""
    user = _find_user(session, username)
    stored_hash = user.password_hash if user is not None else _dummy_hash()
    normalized = unicodedata.normalize("NFC", password)
    if _verify(stored_hash, normalized):
        stored_as_typed = False
    elif normalized != password and _verify(stored_hash, password):
        # A hash stored before passwords were normalized is a hash of the password as typed.
        stored_as_typed = True
    else:
        return None
    if user is None or not user.is_active:
        return None

    if stored_as_typed or _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hash_password(password)
    return user


def _hash_password(password: str) -> str:
    return _hasher.hash(unicodedata.normalize("NFC", password))


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: Session, username: str, name: str = "api") -> str:
    """Create a bearer token for a user and return it; only its digest is stored.

    Raises:
        InvalidInput: if ``name`` is empty or longer than 100 characters.
        NotFound: if there is no such user.
        Conflict: if the user is disabled. Disabling deletes a user's tokens, so a token
            made while disabled would be the only one that works again after enabling.
    """
    if not name.strip() or len(name) > 100:
        raise InvalidInput.from_template(
            N_('token name "{name}" is not valid; give 1 to 100 characters that say where the '
               "token is used, such as ci-export"),
            name=name[:100],
        )  # fmt: skip
    user = get_user(session, username)
    if not user.is_active:
        raise Conflict.from_template(
            N_("user {username} is disabled, so it cannot get an API token; enable it "
               "first with: contentgen users enable {username}. No token was created."),
            username=username,
        )  # fmt: skip
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_digest(token)))
    session.flush()
    logger.info("API token %r created for user %s", name, username)
    return token


def list_api_tokens(session: Session, username: str) -> list[ApiToken]:
    """Return a user's API tokens, oldest first (their names and dates; no token is stored).

    Raises:
        NotFound: if there is no such user.
    """
    user = get_user(session, username)
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def revoke_api_token(session: Session, username: str, token_id: int) -> ApiToken:
    """Delete one of a user's API tokens, so that it no longer authenticates; the caller commits.

    Raises:
        NotFound: if there is no such user, or the user has no token with that id.
    """
    user = get_user(session, username)
    token = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.id == token_id)
    ).one_or_none() if id_in_range(token_id) else None  # fmt: skip
    if token is None:
        raise NotFound.from_template(NO_SUCH_TOKEN, username=user.username, token_id=token_id)
    session.delete(token)
    session.flush()
    logger.info("API token %d (%r) of user %s revoked", token.id, token.name, user.username)
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """Return the active user a bearer token belongs to, else None."""
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(token))).one_or_none()
    if row is None or not row.user.is_active:
        return None
    return row.user
