"""The review queue and draft pages: filters, bulk actions, and one draft's decisions."""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from contentgen import db
from contentgen.channels import CHANNELS
from contentgen.checks import invisible_characters
from contentgen.drafts import (
    QUEUE_STATUSES,
    SORT_DIRECTIONS,
    SORTS,
    DraftFilter,
    check_names,
    draft_details,
    get_draft,
    queue_choices,
    queue_page,
    queue_position,
)
from contentgen.errors import ContentgenError, InvalidInput, shorten
from contentgen.i18n import N_, translations
from contentgen.review import (
    AlreadyDecided,
    Decision,
    approval_blocker,
    bulk_decision,
    decide,
    decide_many,
    history,
    selected_versions,
)
from contentgen.users import Actor
from contentgen.web._errors import status_code_of
from contentgen.web._pages import (
    NOTICES,
    CsrfChecked,
    Filter,
    Reviewer,
    Viewer,
    message_of,
    notice_of,
    redirect_to,
)
from contentgen.web._render import render, request_locale

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


def _queue_context(request: Request, draft_filter: DraftFilter, page: int) -> dict[str, Any]:
    with db.session_scope() as session:
        result = queue_page(session, draft_filter, page)
        # The filter with a segment's key where the address named the segment by its name,
        # so that the form shows the segment and the page's links and forms send its key.
        draft_filter = result.filter
        choices = queue_choices(session, selected=draft_filter)
        checks = check_names(session)
    # NOTE: the counts of a bulk notice come from the address and cannot be checked.
    notice = notice_of(request, "bulk_approved", "bulk_rejected")
    if request.query_params.get("notice") == "queue_clear":
        # After the last draft in the queue's order, the queue is clear unless the reviewer
        # skipped drafts that still match, and the notice states which is true now.
        template = NOTICES["queue_clear"] if result.total == 0 else NOTICES["queue_end"]
        notice = translations(request_locale(request)).gettext(template)
    return {
        "filter": draft_filter,
        "filter_query": urlencode(draft_filter.as_params()),
        "result": result,
        "campaigns": choices["campaigns"],
        "segments": choices["segments"],
        "channels": list(CHANNELS),
        "channel_labels": {key: channel.label for key, channel in CHANNELS.items()},
        "statuses": QUEUE_STATUSES,
        "sorts": SORTS,
        "sort_directions": SORT_DIRECTIONS,
        "checks": checks,
        "notice": notice,
        "error": None,
    }


@router.get("/queue")
def queue(request: Request, actor: Viewer, draft_filter: Filter,
          page: Annotated[int, Query(ge=1)] = 1) -> Response:  # fmt: skip
    return render(request, "queue.html", _queue_context(request, draft_filter, page))


@router.post("/queue/bulk")
def bulk_action(
    request: Request,
    actor: Reviewer,
    _csrf: CsrfChecked,
    draft_filter: Filter,
    op: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    draft: Annotated[list[str] | None, Form()] = None,
    expected_count: Annotated[int | None, Form()] = None,
    expected_digest: Annotated[str | None, Form()] = None,
) -> Response:
    """Apply ``op`` ("approve:selected", "reject:filter", ...) to the checked drafts, or to
    every draft matching the queue's filter on every page.

    With the filter, the form sends the count and the digest of the matching drafts that
    the page showed, and nothing changes unless the same drafts match now.
    """
    action, _, scope = op.partition(":")
    try:
        if scope not in ("selected", "filter"):
            raise InvalidInput.from_template(
                N_('bulk action "{value}" is not known; reload the queue and use its buttons'),
                value=shorten(op),
            )
        if scope == "filter" and (expected_count is None or not expected_digest):
            # The queue page sends the count and digest it showed; without them the filter
            # would act on whatever matches by now.
            raise InvalidInput.from_template(
                N_("the form does not say which matching drafts you saw; nothing was changed. "
                   "Reload the queue and try again.")
            )  # fmt: skip
        # The field is the reason for rejecting, so an approval does not keep it as its note.
        decision = bulk_decision(action, note=reason if action == "reject" else None)
        selection = _parse_selection(draft or [])
        with db.session_scope() as session:
            result = decide_many(
                session, actor, decision,
                draft_ids=list(selection),
                versions=selection,
                draft_filter=draft_filter if scope == "filter" else None,
                expected_count=expected_count if scope == "filter" else None,
                expected_digest=expected_digest if scope == "filter" else None,
            )  # fmt: skip
    except ContentgenError as error:
        context = _queue_context(request, draft_filter, 1)
        context["error"] = message_of(request, error)
        return render(request, "queue.html", context, status_code=status_code_of(error))
    return redirect_to("/queue", **draft_filter.as_params(),
                       notice="bulk_approved" if decision.action == "approve" else "bulk_rejected",
                       changed=len(result.changed), already=len(result.already),
                       skipped=sum(result.skipped.values()), breaking=len(result.breaking_rules))  # fmt: skip


def _parse_selection(values: list[str]) -> dict[int, int]:
    """Parse checkbox values "ID:VERSION" into {id: version}."""
    pairs = []
    for value in values:
        draft_id, _, version = value.partition(":")
        # ASCII digits only: str.isdigit also accepts "١" and "²".
        if not (draft_id.isascii() and draft_id.isdigit() and version.isascii() and version.isdigit()):
            raise InvalidInput.from_template(
                N_('selected draft "{value}" is not valid; reload the queue and select again'),
                value=shorten(value),
            )
        pairs.append((int(draft_id), int(version)))
    return selected_versions(pairs)


# --- one draft -------------------------------------------------------------------------


def _draft_context(request: Request, draft_id: int, draft_filter: DraftFilter) -> dict[str, Any]:
    with db.session_scope() as session:
        details = draft_details(session, draft_id, messages=True)
        events = history(session, draft_id)
        position = queue_position(session, draft_filter, draft_id)
        approvable = approval_blocker(session, draft_id) is None
    return {
        # Text over its hard limit or with a banned term has to be edited before approval.
        "approvable": approvable,
        "draft": details,
        "events": events,
        "position": position,
        "filter": draft_filter,
        "filter_query": urlencode(draft_filter.as_params()),
        "channel": CHANNELS[details["channel"]],
        "notice": notice_of(request, "approved", "rejected", "edited"),
        "error": None,
        "edit_text": details["text"],
        "invisible": invisible_characters(details["text"]),
        "reason": "",
    }


@router.get("/drafts/{draft_id}")
def draft_page(request: Request, draft_id: int, actor: Viewer, draft_filter: Filter) -> Response:
    return render(request, "draft.html", _draft_context(request, draft_id, draft_filter))


@router.get("/drafts/{draft_id}/approve")
@router.get("/drafts/{draft_id}/reject")
@router.get("/drafts/{draft_id}/edit")
def redirect_to_draft_page(request: Request, draft_id: int, actor: Viewer) -> Response:
    """Redirect a GET on a draft's form address to the draft page, with the same query.

    A form that failed (409 or 422) is shown at its POST address, so reloading the page or
    opening it from the history sends a GET there. The draft page checks the query.
    """
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/drafts/{draft_id}{query}", status_code=303)


def _act(
    request: Request,
    actor: Actor,
    draft_id: int,
    draft_filter: DraftFilter,
    build_decision,
    version: int | None,
    notice: str,
    edit_text: str | None = None,
    reason: str = "",
) -> Response:
    try:
        decision = build_decision()
        with db.session_scope() as session:
            # The next draft is the one after this draft as the reviewer saw the queue: an
            # edit changes the score, which could move the draft within a sort by score.
            get_draft(session, draft_id)  # an unknown draft has no place in the queue
            position = queue_position(session, draft_filter, draft_id)
            notice = _decide_once(session, actor, draft_id, decision, version, notice)
    except ContentgenError as error:
        with db.session_scope() as session:
            draft_details(session, draft_id)  # an unknown draft is a 404, not a form error
        context = _draft_context(request, draft_id, draft_filter)
        context["error"] = message_of(request, error)
        context["reason"] = reason
        if edit_text is not None:
            context["edit_text"] = edit_text
        return render(request, "draft.html", context, status_code=status_code_of(error))

    if position.next_id is None:
        return redirect_to("/queue", **draft_filter.as_params(), notice="queue_clear")
    return redirect_to(f"/drafts/{position.next_id}", **draft_filter.as_params(), notice=notice,
                     draft=draft_id)  # fmt: skip


# The notice after each action, as the review event records it.
_ACTION_NOTICES = {"approve": "approved", "reject": "rejected", "edit": "edited"}


def _decide_once(
    session: Session,
    actor: Actor,
    draft_id: int,
    decision: Decision,
    version: int | None,
    notice: str,
) -> str:
    """Apply the decision and return the notice for it.

    The same decision by the same reviewer since ``version`` (a form sent twice, or a second
    tab) counts as done: the reviewer gets that decision's notice and the next draft.
    """
    try:
        draft = decide(session, actor, draft_id, decision, expected_version=version)
    except AlreadyDecided as error:
        logger.info("draft %d: %s by %s repeats their earlier decision; nothing written",
                    draft_id, decision.action, actor.username)  # fmt: skip
        return _ACTION_NOTICES[error.action]
    # An edit that left the text as it was is recorded as a plain approval, and only an
    # edit keeps the model's text as the original.
    if notice == "edited" and draft.original_text is None:
        return "approved"
    return notice


@router.post("/drafts/{draft_id}/approve")
def approve(request: Request, draft_id: int, actor: Reviewer, _csrf: CsrfChecked,
            draft_filter: Filter,
            version: Annotated[int | None, Form()] = None) -> Response:  # fmt: skip
    return _act(request, actor, draft_id, draft_filter, lambda: Decision("approve"), version, "approved")


@router.post("/drafts/{draft_id}/reject")
def reject(request: Request, draft_id: int, actor: Reviewer, _csrf: CsrfChecked,
           draft_filter: Filter,
           version: Annotated[int | None, Form()] = None,
           reason: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    return _act(request, actor, draft_id, draft_filter, lambda: Decision("reject", note=reason),
                version, "rejected", reason=reason)  # fmt: skip


@router.post("/drafts/{draft_id}/edit")
def edit(request: Request, draft_id: int, actor: Reviewer, _csrf: CsrfChecked,
         draft_filter: Filter,
         version: Annotated[int | None, Form()] = None,
         text: Annotated[str, Form()] = "",
         note: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    return _act(request, actor, draft_id, draft_filter,
                lambda: Decision("edit", note=note, text=text), version, "edited", edit_text=text)  # fmt: skip
