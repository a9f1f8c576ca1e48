"""Helpers shared by the page modules: role dependencies, the CSRF check, redirects with a
notice, and the review queue's filter from the query string."""

from __future__ import annotations

import gettext
import string
from collections.abc import Callable, Collection
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse

from contentgen import db
from contentgen.batches import batch_progress
from contentgen.drafts import DraftFilter
from contentgen.errors import ContentgenError, InvalidInput, NotFound
from contentgen.i18n import N_, translations
from contentgen.models import Draft, DraftStatus, User, id_in_range
from contentgen.settings import get_settings
from contentgen.users import USERNAME_PATTERN, Actor, Permission, Role, get_user
from contentgen.web._auth import check_csrf, current_page_actor, page_actor
from contentgen.web._errors import web_message
from contentgen.web._render import request_locale

Viewer = Annotated[Actor, Depends(page_actor(Permission.VIEW))]
Submitter = Annotated[Actor, Depends(page_actor(Permission.SUBMIT))]
Reviewer = Annotated[Actor, Depends(page_actor(Permission.REVIEW))]
Exporter = Annotated[Actor, Depends(page_actor(Permission.EXPORT))]
Admin = Annotated[Actor, Depends(page_actor(Permission.ADMIN))]
LoggedIn = Annotated[Actor, Depends(current_page_actor)]
# Checked after the user dependency, so that a visitor who is not logged in is sent to the
# login page before the token is looked at.
CsrfChecked = Annotated[None, Depends(check_csrf)]

# Messages shown after a redirect, chosen by the "notice" query value; the other query
# values fill the fields. Only these templates are ever shown, never text from the URL.
NOTICES = {
    "approved": N_("Draft {draft} approved."),
    "rejected": N_("Draft {draft} rejected."),
    "edited": N_("Draft {draft} edited and approved."),
    "queue_clear": N_("The queue is clear: no more drafts match this filter."),
    "queue_end": N_("That was the last draft in this order; the drafts below still match the filter."),
    "user_created": N_("User {user} created."),
    "role_changed": N_("User {user} now has the role {role}."),
    "user_disabled": N_("User {user} is disabled."),
    "user_enabled": N_("User {user} is enabled."),
    "settings_saved": N_("Settings saved."),
    "retry_pending": N_("No request of this batch has failed since the last retry. Its pending "
                        "requests run when the workers reach them."),
    "password_changed": N_("Password changed. Other browsers where you were logged in must log in again."),
    "logged_out": N_("You are logged out."),
}

# The values a notice shows, each with the test that a URL's value must pass.
NOTICE_FIELDS: dict[str, Callable[[str], bool]] = {
    "draft": lambda value: value.isascii() and value.isdigit() and len(value) <= 19,
    "user": lambda value: USERNAME_PATTERN.fullmatch(value) is not None,
    "role": lambda value: value in {role.value for role in Role},
}

# The status that the named draft must have now for its notice to be shown.
DRAFT_NOTICE_STATUSES = {
    "approved": DraftStatus.APPROVED,
    "edited": DraftStatus.APPROVED,
    "rejected": DraftStatus.REJECTED,
}

# Notices that report counts, each sentence in the singular or plural form of its count.
COUNT_NOTICES = ("bulk_approved", "bulk_rejected", "templates_synced", "failed_retried", "batch_cancelled")


def notice_of(request: Request, *shown: str) -> str | None:
    """Return the notice that the URL names, if it is one of ``shown``.

    ``shown`` lists the notices of the actions that redirect to this page. Others are
    ignored, so a crafted link cannot put another page's notice here. A notice is also
    ignored when a value that it shows is missing, or when the draft or user that it names
    does not exist or is not in the state that it reports.
    """
    catalogue = translations(request_locale(request))
    notice = request.query_params.get("notice", "")
    if notice not in shown:
        return None
    if notice in COUNT_NOTICES:
        return _count_notice(request, catalogue, notice)
    template = NOTICES.get(notice)
    if template is None:
        return None
    fields = {name: request.query_params.get(name, "") for name in NOTICE_FIELDS}
    # A notice link can be made by anyone, so each value must be one the action could
    # have produced: no free text from the URL appears on the page.
    if not all(NOTICE_FIELDS[name](value) for name, value in fields.items() if value):
        return None
    named = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if not all(fields[name] for name in named):
        return None
    if notice in DRAFT_NOTICE_STATUSES and not _draft_matches_notice(int(fields["draft"]), notice):
        return None
    if notice in USER_NOTICES and not _user_matches_notice(fields["user"], notice, fields["role"]):
        return None
    if notice == "retry_pending" and not (_batch_requests(request) or {}).get("pending"):
        return None
    return catalogue.gettext(template).format(**fields)


# The notices of the users page, each with the test of the user's current state.
USER_NOTICES: dict[str, Callable[[User, str], bool]] = {
    "user_created": lambda user, role: True,
    "role_changed": lambda user, role: user.role == role,
    "user_disabled": lambda user, role: not user.is_active,
    "user_enabled": lambda user, role: user.is_active,
}


def _user_matches_notice(username: str, notice: str, role: str) -> bool:
    """Return whether the user exists and is in the state that the notice reports."""
    with db.session_scope() as session:
        try:
            user = get_user(session, username)
        except NotFound:
            return False
        return USER_NOTICES[notice](user, role)


def _draft_matches_notice(draft_id: int, notice: str) -> bool:
    """Return whether the draft exists and its current state is what the notice reports,
    so that a crafted link cannot announce a decision that was never made."""
    if not id_in_range(draft_id):
        return False
    with db.session_scope() as session:
        draft = session.get(Draft, draft_id)
        if draft is None or draft.status != DRAFT_NOTICE_STATUSES[notice]:
            return False
        # Only an edit keeps the model's text as the original.
        return notice != "edited" or draft.original_text is not None


def _batch_requests(request: Request) -> dict[str, int] | None:
    """Count the requests by state of the batch whose page this is, or return None when that
    batch does not exist."""
    try:
        batch_id = int(request.path_params["batch_id"])
    except (KeyError, ValueError):
        return None
    if not id_in_range(batch_id):
        return None
    with db.session_scope() as session:
        try:
            return batch_progress(session, batch_id).requests
        except NotFound:
            return None


def _count_notice(request: Request, catalogue: gettext.NullTranslations, name: str) -> str | None:
    counts = {}
    for field in ("changed", "already", "skipped", "breaking"):
        value = request.query_params.get(field, "0")
        # A count that is not a number comes from an edited URL: show no notice.
        if not value.isascii() or not value.isdigit() or len(value) > 9:
            return None
        counts[field] = int(value)

    ngettext = catalogue.ngettext
    changed, skipped, breaking = counts["changed"], counts["skipped"], counts["breaking"]
    # A batch's counts must fit its requests now, so that a crafted link cannot report an
    # action on requests that the batch does not have.
    requests = _batch_requests(request) if name in ("failed_retried", "batch_cancelled") else None
    if name == "failed_retried" and (requests is None or changed > sum(requests.values()) - requests["cancelled"]):
        return None
    if name == "batch_cancelled" and (requests is None or changed > requests["cancelled"]):
        return None
    if name == "templates_synced":
        return ngettext("Templates synced: {count} new version.",
                        "Templates synced: {count} new versions.", changed).format(count=changed)  # fmt: skip
    if name == "failed_retried":
        if not changed:
            return catalogue.gettext("The batch has no failed requests, so nothing runs again.")
        return ngettext("{count} failed request will run again.",
                        "{count} failed requests will run again.", changed).format(count=changed)  # fmt: skip

    if name == "batch_cancelled":
        if changed:
            sentences = [ngettext("{count} pending request cancelled.",
                                  "{count} pending requests cancelled.", changed).format(count=changed)]  # fmt: skip
        else:
            sentences = [catalogue.gettext("No request of this batch was waiting to run, so nothing was cancelled.")]
        # Only while a worker may still hold them: a broker is set and they are pending.
        if skipped and get_settings().broker_url and skipped <= requests["pending"]:
            sentences.append(
                ngettext("A worker is generating {count} request now; it finishes and keeps its draft.",
                         "A worker is generating {count} requests now; they finish and keep their drafts.",
                         skipped).format(count=skipped)
            )  # fmt: skip
        return _join_sentences(request, sentences)

    if name == "bulk_rejected":
        decided = ngettext("{count} draft rejected.", "{count} drafts rejected.", changed)
    else:
        decided = ngettext("{count} draft approved.", "{count} drafts approved.", changed)
    sentences = [decided.format(count=changed)]
    already = counts["already"]
    if already and name == "bulk_rejected":
        sentences.append(
            ngettext("{count} was already rejected by you with this reason.",
                     "{count} were already rejected by you with this reason.",
                     already).format(count=already)
        )  # fmt: skip
    elif already:
        sentences.append(
            ngettext("{count} was already approved by you.",
                     "{count} were already approved by you.", already).format(count=already)
        )  # fmt: skip
    if skipped:
        sentences.append(
            ngettext("{count} skipped because its status does not allow the action.",
                     "{count} skipped because their status does not allow the action.",
                     skipped).format(count=skipped)
        )  # fmt: skip
    if breaking:
        sentences.append(
            ngettext("{count} not approved because it is over the hard limit or contains a "
                     "banned term: edit it first.",
                     "{count} not approved because they are over the hard limit or contain a "
                     "banned term: edit them first.",
                     breaking).format(count=breaking)
        )  # fmt: skip
    return _join_sentences(request, sentences)


def _join_sentences(request: Request, sentences: list[str]) -> str:
    # Chinese sentences end with a full-width stop and take no space after it.
    separator = "" if request_locale(request).startswith("zh") else " "
    return separator.join(sentences)


def redirect_to(path: str, **query: Any) -> RedirectResponse:
    query = {name: value for name, value in query.items() if value not in (None, "")}
    return RedirectResponse(f"{path}?{urlencode(query)}" if query else path, status_code=303)


def message_of(request: Request, error: ContentgenError) -> str:
    return web_message(error, request_locale(request), api=False)


def safe_next(target: str | None) -> str:
    # Only paths on this site: "//host" and "https://host" would send the user elsewhere.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/batches"


# The filter's fields, and what the queue and draft pages add to their addresses.
QUEUE_FILTERS = ("batch_id", "campaign", "channel", "segment", "status", "check", "sort")
QUEUE_PARAMETERS = frozenset(
    {*QUEUE_FILTERS, "page", "notice", "changed", "already", "skipped", "breaking", *NOTICE_FIELDS}
)


def queue_filter(
    request: Request,
    # A string: the filter form sends "batch_id=" for "any batch".
    batch_id: str | None = None,
    campaign: str | None = None,
    channel: str | None = None,
    segment: str | None = None,
    status: str | None = None,
    check: str | None = None,
    sort: str | None = None,
) -> DraftFilter:
    """Build the queue's filter from the query string, for the queue and draft pages.

    Raises:
        InvalidInput: for a parameter the pages do not take, such as ``batch=2`` for
            ``batch_id=2``, which would otherwise widen the queue to every batch, and with
            it "approve all matching".
    """
    check_query_names(
        request,
        QUEUE_PARAMETERS,
        N_("This address has parameters that the review queue and its draft pages do not take: "
           "{names}; their filters are {filters}. Correct or remove them."),
        filters=", ".join(QUEUE_FILTERS),
    )  # fmt: skip
    return DraftFilter.from_params(batch_id=batch_id, campaign=campaign, channel=channel,
                                   segment=segment, status=status, check=check, sort=sort)  # fmt: skip


def check_query_names(request: Request, known: Collection[str], unknown_template: str,
                      **fields: str) -> None:  # fmt: skip
    """Raise InvalidInput for a query parameter that is not in ``known``, or that is given
    more than once, because the page would otherwise ignore it or use its last value.

    ``unknown_template`` words the error for unknown parameters. It gets their names as
    ``{names}``, and ``fields`` for its other fields.
    """
    names = [name for name, _ in request.query_params.multi_items()]
    unknown = [name for name in dict.fromkeys(names) if name not in known]
    if unknown:
        raise InvalidInput.from_template(
            unknown_template, names=", ".join(_shown_name(name) for name in unknown[:5]), **fields
        )
    repeated = [name for name in dict.fromkeys(names) if names.count(name) > 1]
    if repeated:
        raise InvalidInput.from_template(
            N_("This address gives {names} more than once; give each parameter once."),
            names=", ".join(_shown_name(name) for name in repeated[:5]),
        )


def _shown_name(name: str) -> str:
    if not name:
        return '""'
    return name if len(name) <= 40 else name[:39] + "…"


Filter = Annotated[DraftFilter, Depends(queue_filter)]
