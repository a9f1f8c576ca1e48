"""Review decisions on drafts: approve, reject, edit then approve, one at a time or in bulk.

The CLI, the JSON API and the pages all act through this module, so every decision is
checked the same way and leaves one review event (actor, action, status before and after,
note, time) per draft.

Which decisions a draft can take depends on its status:

=============  ===========================  =========
action         from                         to
=============  ===========================  =========
approve        pending_review, flagged      approved
reject         pending_review, flagged,     rejected
               approved
edit           pending_review, flagged,     approved
               approved
=============  ===========================  =========

An edit runs the automated checks again on the new text and stores their results in place
of the old ones. Neither an edit nor an approval lets through text over the channel's hard
limit, which the platform would reject, or text with a banned term of the brand.

A rejected draft is final. Two reviewers acting on the same draft are kept apart by the
draft's version: a caller passes the version it showed the reviewer, and a decision made
on an older version raises ``Conflict`` and writes nothing. The row is also locked (on
PostgreSQL) and the UPDATE carries the version (SQLAlchemy's ``version_id_col``), so two
decisions that pass the check at the same moment still cannot both be written.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from contentgen._draft_context import check_contexts, slot_of, stored_siblings
from contentgen._limits import measure
from contentgen.campaigns import campaign_spec
from contentgen.channels import CHANNELS, normalize_line_breaks
from contentgen.channels import measure as measure_for_channel
from contentgen.checks import control_character, has_visible_text, run_checks, score_draft
from contentgen.drafts import DraftFilter, get_draft, matching_versions, selection_digest
from contentgen.errors import Conflict, InvalidInput, NotFound, PermissionDenied, shorten
from contentgen.i18n import N_, Message, Verbatim, join_alternatives, translate_error
from contentgen.models import (
    Draft,
    DraftCheck,
    DraftStatus,
    GenerationRequest,
    ReviewEvent,
    id_in_range,
    utc_iso,
)
from contentgen.rules import find_terms, rules_for_brand
from contentgen.users import Actor, Permission, get_user

logger = logging.getLogger(__name__)


class ApprovalBlocked(InvalidInput):
    """An approval rejected because the text is over its hard limit or contains a banned term.

    An edit that fixes the text approves it.
    """


class AlreadyDecided(Conflict):
    """A decision that the same reviewer already made, so nothing was written.

    Either the first decision came after the version the reviewer saw (a form sent twice,
    or the same decision from a second tab), or it is the newest decision on the draft and
    gave the draft its current status. The latter is a command repeated on the command
    line, which passes no version.

    ``action`` is the action recorded then: "approve", "reject" or "edit".
    """

    action: str = ""


ACTIONS = ("approve", "reject", "edit")
ALLOWED_FROM: dict[str, frozenset[DraftStatus]] = {
    "approve": frozenset({DraftStatus.PENDING_REVIEW, DraftStatus.FLAGGED}),
    "reject": frozenset({DraftStatus.PENDING_REVIEW, DraftStatus.FLAGGED, DraftStatus.APPROVED}),
    "edit": frozenset({DraftStatus.PENDING_REVIEW, DraftStatus.FLAGGED, DraftStatus.APPROVED}),
}
RESULT_STATUS = {
    "approve": DraftStatus.APPROVED,
    "reject": DraftStatus.REJECTED,
    "edit": DraftStatus.APPROVED,
}
MAX_NOTE_LENGTH = 2000
MAX_TEXT_LENGTH = 20_000
# A bulk error about unknown drafts names at most this many of them.
LISTED_MISSING = 20
@dataclass(frozen=True)
class Decision:
    """One review action: ``note`` is the rejection reason or a comment on an edit, and
    ``text`` the edited copy."""

    action: str
    note: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidInput.from_template(
                N_('review action "{value}" is not known; use one of: {allowed}'),
                value=shorten(self.action),
                allowed=", ".join(ACTIONS),
            )
        note = (self.note or "").strip() or None
        object.__setattr__(self, "note", note)
        if self.action == "reject" and note is None:
            raise InvalidInput.from_template(
                N_("a rejection needs a reason; say what is wrong with the draft")
            )
        if note is not None and (character := control_character(note, "\n\t")) is not None:
            template = (
                N_("the reason contains the control character U+{code}; remove it")
                if self.action == "reject"
                else N_("the note contains the control character U+{code}; remove it")
            )
            raise InvalidInput.from_template(template, code=f"{ord(character):04X}")
        if note is not None and len(note) > MAX_NOTE_LENGTH:
            # The message names the field as the forms and the API call it.
            template = (
                N_("the reason has {length} characters; keep it to {maximum}")
                if self.action == "reject"
                else N_("the note has {length} characters; keep it to {maximum}")
            )
            raise InvalidInput.from_template(template, length=len(note), maximum=MAX_NOTE_LENGTH)
        if self.action == "edit":
            self._check_text()

    def _check_text(self) -> None:
        text = normalized_text(self.text or "")
        if not has_visible_text(text):
            raise InvalidInput.from_template(N_("the edited text is empty; write the copy to approve"))
        if (character := control_character(text, "\n")) is not None:
            raise InvalidInput.from_template(
                N_("the edited text contains the control character U+{code}; remove it"),
                code=f"{ord(character):04X}",
            )
        if len(text) > MAX_TEXT_LENGTH:
            raise InvalidInput.from_template(
                N_("the edited text has {length} characters, and no edit may have more than "
                   "{maximum}; shorten it to its channel's limit"),
                length=len(text),
                maximum=MAX_TEXT_LENGTH,
            )
        object.__setattr__(self, "text", text)


def normalized_text(text: str) -> str:
    """Return ``text`` as an edit stores it: each line break as "\\n", without leading or
    trailing whitespace."""
    return normalize_line_breaks(text).strip()


def decide(
    session: Session,
    actor: Actor,
    draft_id: int,
    decision: Decision,
    expected_version: int | None = None,
) -> Draft:
    """Apply one decision to one draft and record it; the caller commits.

    An edit whose text is the draft's current text, once normalised as every edit is,
    is recorded as an approval: the draft is not marked edited and keeps no original text.

    Args:
        expected_version: the draft version the reviewer saw; None skips the comparison
            (the CLI acts on what is current).

    Raises:
        PermissionDenied: if the actor may not review.
        NotFound: if the draft does not exist.
        AlreadyDecided: if the draft's newest review event is this decision by the same
            actor (with the same reason, for a rejection), after ``expected_version`` or,
            without one, giving the draft its current status.
        Conflict: if the draft changed since ``expected_version`` or its status does not
            allow the action.
        InvalidInput: if an edit or an approval would let through text over the channel's
            hard limit or with a banned term, or an edit of an approved draft leaves its
            text as it is.
    """
    actor.require(Permission.REVIEW)
    draft = _locked_draft(session, draft_id)
    if expected_version is not None and draft.version != expected_version:
        raise _changed_since(session, actor, draft, decision, expected_version)
    _check_allowed(session, actor, draft, decision)
    decision = _approval_if_unchanged(draft, decision)
    if decision.action in ("approve", "edit"):
        error = _rule_error(draft, decision)
        if error is not None:
            raise error

    _apply(session, actor, draft, decision)
    if decision.action == "edit":
        _recheck(session, draft)
    _flush(session, draft_id)
    logger.info(
        "draft %d: %s by %s (now %s)", draft_id, decision.action, actor.username, draft.status.value
    )
    return draft


def _locked_draft(session: Session, draft_id: int) -> Draft:
    # populate_existing: a row read earlier in this session must not hide a newer version.
    draft = (
        session.get(Draft, draft_id, with_for_update=True, populate_existing=True)
        if id_in_range(draft_id)
        else None
    )
    if draft is None:
        get_draft(session, draft_id)  # raises NotFound with the usual message
    return draft


def _approval_if_unchanged(draft: Draft, decision: Decision) -> Decision:
    """Return an approval in place of an edit that leaves the draft's text as it is.

    Raises:
        InvalidInput: for such an edit of an approved draft, since it would change nothing.
    """
    if decision.action != "edit" or decision.text != normalized_text(draft.text):
        return decision
    if draft.status is DraftStatus.APPROVED:
        raise InvalidInput.from_template(
            N_("the edited text of draft {draft_id} is the same as its current text, and the "
               "draft is already approved; change the text, or leave the draft as it is. "
               "Nothing was changed."),
            draft_id=draft.id,
        )  # fmt: skip
    return Decision("approve", note=decision.note)


# The messages for a draft that cannot take an action, because it already has the status
# that the action gives, or because the action cannot start from its status. The first
# are for a draft whose newest review event does not name who gave it that status.
_ALREADY_IN_STATUS = {
    "approve": N_("draft {draft_id} is already approved. Nothing was changed."),
    "reject": N_("draft {draft_id} is already rejected. Nothing was changed."),
}
# By the action of the newest review event, and by whether the reviewer who gets the
# error made it. The same decision by the same reviewer is ``AlreadyDecided`` instead.
_ALREADY_IN_STATUS_BY = {
    ("approve", False): N_("draft {draft_id} is already approved (by {who}). Nothing was changed."),
    ("edit", False): N_("draft {draft_id} is already approved (edited and approved by {who}). "
                        "Nothing was changed."),
    ("edit", True): N_("draft {draft_id} is already approved (edited and approved by you). "
                       "Nothing was changed."),
    ("reject", False): N_("draft {draft_id} is already rejected (by {who}). Nothing was changed."),
}
# For an approval or an edit of a draft that a known reviewer rejected.
_REJECTED_FINAL = {
    "approve": N_("draft {draft_id} was {change}, and a rejected draft is final, so it cannot be "
                  "approved. Nothing was changed."),
    "edit": N_("draft {draft_id} was {change}, and a rejected draft is final, so it cannot be "
               "edited. Nothing was changed."),
}  # fmt: skip
_NOT_ALLOWED = {
    "approve": N_("draft {draft_id} is {status}, so it cannot be approved; only drafts that "
                  "are {allowed} can be. Nothing was changed."),
    "reject": N_("draft {draft_id} is {status}, so it cannot be rejected; only drafts that "
                 "are {allowed} can be. Nothing was changed."),
    "edit": N_("draft {draft_id} is {status}, so it cannot be edited; only drafts that are "
               "{allowed} can be. Nothing was changed."),
}  # fmt: skip


def _check_allowed(session: Session, actor: Actor, draft: Draft, decision: Decision) -> None:
    action = decision.action
    if draft.status in ALLOWED_FROM[action]:
        return
    if action in _ALREADY_IN_STATUS and draft.status is RESULT_STATUS[action]:
        raise _already_in_status(session, actor, draft, decision)
    last = _newest_event(session, draft)
    if draft.status is DraftStatus.REJECTED and last is not None and last.actor is not None and last.action == "reject":
        raise Conflict.from_template(_REJECTED_FINAL[action], draft_id=draft.id, change=_change_of(last, actor))
    allowed = sorted(status.value for status in ALLOWED_FROM[action])
    raise Conflict.from_template(
        _NOT_ALLOWED[action],
        draft_id=draft.id,
        status=draft.status.value,
        allowed=join_alternatives(allowed),
    )


def _already_in_status(session: Session, actor: Actor, draft: Draft, decision: Decision) -> Conflict:
    """Return the error for ``decision`` on a draft that already has the status it gives.

    When the draft's newest review event gave it that status, the message names who made
    that decision, and the same decision by ``actor`` is ``AlreadyDecided`` (see
    ``_repeated_decision``).
    """
    last = _newest_event(session, draft)
    if (
        last is None
        or last.actor is None
        or last.action not in ACTIONS
        or last.status_after != draft.status.value
    ):
        return Conflict.from_template(_ALREADY_IN_STATUS[decision.action], draft_id=draft.id)
    mine = last.actor_id == actor.id
    if mine and _same_decision(last, draft, decision):
        return _repeated_decision(draft, decision, last)
    template = _ALREADY_IN_STATUS_BY.get((last.action, mine), _ALREADY_IN_STATUS[decision.action])
    # Verbatim: a username is never translated, even one that is also a status.
    return Conflict.from_template(template, draft_id=draft.id, who=Verbatim(last.actor.username))


def approval_blocker(session: Session, draft_id: int) -> InvalidInput | None:
    """Return why the draft's text cannot be approved as it is (over its hard limit, or a
    banned term), or None when it can."""
    return _rule_error(get_draft(session, draft_id), Decision("approve"))


# The messages for text that breaks a hard rule, by how it was to be decided. An edit
# saves nothing, and the approval of one draft changes nothing. A bulk approval leaves
# that draft unapproved and goes on with the others, so its message has no "Nothing was
# changed".
_OVER_LIMIT = {
    "edit": N_("the edited text of draft {draft_id} has {count} {unit} as the platform "
               "counts them, over the hard limit of {limit} for {channel}; shorten it to "
               "{limit} or fewer ({over} too many). Nothing was saved."),
    "approve": N_("draft {draft_id} has {count} {unit} as the platform counts them, over the "
                  "hard limit of {limit} for {channel}, so it cannot be approved; edit it to "
                  "{limit} {unit} or fewer instead. Nothing was changed."),
    "bulk": N_("draft {draft_id} has {count} {unit} as the platform counts them, over the "
               "hard limit of {limit} for {channel}, so it was left unapproved; edit it to "
               "{limit} {unit} or fewer, which approves it"),
}  # fmt: skip
_BANNED_TERMS = {
    "edit": N_("the edited text of draft {draft_id} contains banned terms: {terms}; remove "
               "them. Nothing was saved."),
    "approve": N_("draft {draft_id} contains banned terms: {terms}, so it cannot be approved; "
                  "edit it to remove them instead. Nothing was changed."),
    "bulk": N_("draft {draft_id} contains banned terms: {terms}, so it was left unapproved; "
               "edit it to remove them, which approves it"),
}  # fmt: skip


def _rule_error(
    draft: Draft, decision: Decision, locales: dict[int, str] | None = None, bulk: bool = False
) -> InvalidInput | None:
    """Return the error for text that ``decision`` would approve against a hard rule, or None.

    The hard rules are the channel's hard limit, which the platform enforces, and the
    brand's banned terms: a reviewer cannot approve text that breaks them.

    Args:
        locales: campaign locales by campaign id, filled in as they are read, so that a
            caller deciding many drafts reads each campaign's spec once.
        bulk: word the error for one draft of a bulk approval, which changes the others.
    """
    editing = decision.action == "edit"
    text = (decision.text or "") if editing else draft.text
    request = draft.request
    brand = request.campaign.brand
    if editing and "\n" in text and CHANNELS[request.channel].single_line:
        return InvalidInput.from_template(
            N_("the edited text of draft {draft_id} has more than one line, but {channel} "
               "copy is one line; join the lines. Nothing was saved."),
            draft_id=draft.id,
            channel=request.channel,
        )  # fmt: skip
    error_type = InvalidInput if editing else ApprovalBlocked
    if editing:
        mode = "edit"
    elif bulk:
        mode = "bulk"
    else:
        mode = "approve"
    count = measure(text, request.channel, brand.channel_limits)
    if count.over:
        return error_type.from_template(
            _OVER_LIMIT[mode],
            draft_id=draft.id,
            count=count.count,
            unit=CHANNELS[request.channel].counting.unit,
            limit=count.limit,
            channel=request.channel,
            over=count.over,
        )

    locales = {} if locales is None else locales
    campaign = request.campaign
    if campaign.id not in locales:
        locales[campaign.id] = campaign_spec(campaign).locale
    rules = rules_for_brand(brand, locales[campaign.id])
    matches = find_terms(text, rules.banned)
    if matches:
        terms = ", ".join(dict.fromkeys(f'"{match.term.text}"' for match in matches))
        return error_type.from_template(_BANNED_TERMS[mode], draft_id=draft.id, terms=terms)
    return None


def _recheck(session: Session, draft: Draft) -> None:
    """Run the automated checks on an edited draft, replacing the results and the score."""
    # Without autoflush the edit and the new results are written in one UPDATE, so the
    # draft's version grows by one per decision. Replacing ``draft.checks`` loads the old
    # results first, which would flush too.
    with session.no_autoflush:
        request = draft.request
        context = check_contexts([request])[request.id]
        siblings = stored_siblings(session, [request]).get(slot_of(request), [])
        results = run_checks(draft.text, context, siblings)
        draft.checks = [
            DraftCheck(
                name=result.name,
                passed=result.passed,
                blocking=result.blocking,
                detail=result.detail,
                detail_message=None if result.message is None else result.message.to_json(),
            )
            for result in results
        ]
    measurement = measure_for_channel(draft.text, request.channel, context.channel_limits)
    # A person wrote the text, so the model's token probabilities do not apply to it.
    draft.score = score_draft(results, measurement, None)


# Phrases for the change that the newest review event made, by action and by whether the
# reviewer who gets the conflict made it.
_CHANGES = {
    ("approve", False): N_("approved by {who}"),
    ("reject", False): N_("rejected by {who}"),
    ("edit", False): N_("edited and approved by {who}"),
    ("approve", True): N_("approved by you"),
    ("reject", True): N_("rejected by you"),
    ("edit", True): N_("edited and approved by you"),
}
_ALREADY_DECIDED = {
    "approve": N_("you already approved draft {draft_id}, so this second approval changed nothing"),
    "reject": N_("you already rejected draft {draft_id}, so this second rejection changed nothing"),
    "edit": N_("you already saved this text for draft {draft_id} and approved it, so this "
               "second edit changed nothing"),
}  # fmt: skip


# The conflict messages of a decision on one draft, and of a bulk action from the queue:
# a version that never existed, a change whose actor or action is unknown, and a change by
# a known user.
DRAFT_CONFLICTS = (
    N_("draft {draft_id} has no version {seen}; the current version is {current}. "
       "Nothing was saved. Reload the draft and decide again."),
    N_("draft {draft_id} was changed after you opened it (version {seen}, now "
       "{current}, status {status}); nothing was saved. Reload the draft and decide "
       "again."),
    N_("draft {draft_id} was {change} after you opened it (version {seen}, now {current}); "
       "nothing was saved. Reload the draft and decide again."),
)  # fmt: skip
QUEUE_CONFLICTS = (
    N_("draft {draft_id} has no version {seen}; the current version is {current}. "
       "Nothing was changed. Reload the queue and try again."),
    N_("draft {draft_id} was changed after you loaded the queue (version {seen}, now "
       "{current}, status {status}); nothing was changed. Reload the queue and try "
       "again."),
    N_("draft {draft_id} was {change} after you loaded the queue (version {seen}, now "
       "{current}); nothing was changed. Reload the queue and try again."),
)  # fmt: skip
# A draft rejected since the reviewer saw it, which no retry can change.
DRAFT_REJECTED_SINCE = N_("draft {draft_id} was {change} after you opened it (version {seen}, now {current}); "
                          "nothing was saved, and a rejected draft is final")  # fmt: skip
QUEUE_REJECTED_SINCE = N_("draft {draft_id} was {change} after you loaded the queue (version {seen}, now "
                          "{current}); nothing was changed. A rejected draft is final, so leave it out of "
                          "the selection.")  # fmt: skip
# A filter-wide bulk action whose filter matches other drafts than the reviewer saw.
FILTER_COUNT_CHANGED = N_("the filter now matches {count} drafts, not the {expected} you saw; nothing "
                          "was changed. Reload the queue and try again.")  # fmt: skip
FILTER_DRAFTS_CHANGED = N_("the drafts that match the filter are not the ones you saw: drafts were "
                           "added, decided or changed since, and {count} match now; nothing was "
                           "changed. Reload the queue and try again.")  # fmt: skip


def _changed_since(
    session: Session, actor: Actor, draft: Draft, decision: Decision, expected_version: int
) -> Conflict:
    """Return the error for ``decision`` on a draft that changed after ``expected_version``.

    When the newest change is the same decision by the same reviewer, the error is
    ``AlreadyDecided``, except for a second rejection with another reason: that reason is
    not saved, so the reviewer is told so.
    """
    last = _newest_event(session, draft)
    known = 1 <= expected_version <= draft.version and last is not None and last.actor is not None
    if known and last.action in ACTIONS and last.actor_id == actor.id and _same_decision(last, draft, decision):
        return _repeated_decision(draft, decision, last)
    if known and last.action == "reject" and draft.status is DraftStatus.REJECTED:
        # Reloading shows the rejection; there is nothing left to decide.
        return Conflict.from_template(
            DRAFT_REJECTED_SINCE,
            draft_id=draft.id, change=_change_of(last, actor), seen=expected_version, current=draft.version,
        )  # fmt: skip
    return _conflict(actor, draft, expected_version, last, DRAFT_CONFLICTS)


def _repeated_decision(draft: Draft, decision: Decision, last: ReviewEvent) -> Conflict:
    """Return the error for ``decision`` when ``last``, the draft's newest review event, is
    the same decision by the same reviewer: ``AlreadyDecided``, except for a second
    rejection with another reason, whose error states that the reason was not saved."""
    if decision.action == "reject" and last.note != decision.note:
        return Conflict.from_template(
            N_('you already rejected draft {draft_id} with the reason "{reason}", and a '
               "rejected draft is final, so the new reason was not saved"),
            draft_id=draft.id,
            reason=shorten(last.note or "", 200),
        )  # fmt: skip
    error = AlreadyDecided.from_template(_ALREADY_DECIDED[last.action], draft_id=draft.id)
    error.action = last.action
    return error


def _repeats_decision(
    session: Session, actor: Actor, draft: Draft, decision: Decision, expected_version: int
) -> bool:
    """Tell whether a draft changed after ``expected_version`` was last changed by ``actor``
    making ``decision``, with the same reason for a rejection."""
    if not 1 <= expected_version < draft.version or draft.status is not RESULT_STATUS[decision.action]:
        return False
    last = _newest_event(session, draft)
    return (
        last is not None
        and last.actor_id == actor.id
        and last.action == decision.action
        and last.note == decision.note
    )


def _changed_in_queue(
    session: Session, actor: Actor, draft: Draft, expected_version: int
) -> Conflict:
    """Return the error for a bulk action on a draft that changed after ``expected_version``,
    the version that the queue showed."""
    last = _newest_event(session, draft)
    known = 1 <= expected_version <= draft.version and last is not None and last.actor is not None
    if known and last.action == "reject" and draft.status is DraftStatus.REJECTED:
        # Trying again with the same selection cannot help.
        return Conflict.from_template(
            QUEUE_REJECTED_SINCE,
            draft_id=draft.id, change=_change_of(last, actor), seen=expected_version, current=draft.version,
        )  # fmt: skip
    return _conflict(actor, draft, expected_version, last, QUEUE_CONFLICTS)


def _conflict(
    actor: Actor, draft: Draft, expected_version: int, last: ReviewEvent | None, templates: tuple[str, str, str]
) -> Conflict:
    """Return the conflict for a draft that changed after ``expected_version``, with ``last``
    its newest review event, worded by ``templates`` (see ``DRAFT_CONFLICTS``)."""
    no_version, changed, changed_by = templates
    # Versions start at 1 and only grow, so a version above the current one was never seen.
    if not 1 <= expected_version <= draft.version:
        return Conflict.from_template(no_version, draft_id=draft.id, seen=expected_version, current=draft.version)
    if last is None or last.actor is None or last.action not in ACTIONS:
        return Conflict.from_template(changed, draft_id=draft.id, seen=expected_version, current=draft.version,
                                      status=draft.status.value)  # fmt: skip
    return Conflict.from_template(changed_by, draft_id=draft.id, change=_change_of(last, actor),
                                  seen=expected_version, current=draft.version)  # fmt: skip


def _newest_event(session: Session, draft: Draft) -> ReviewEvent | None:
    return session.scalars(
        select(ReviewEvent)
        .where(ReviewEvent.draft_id == draft.id)
        .order_by(ReviewEvent.id.desc())
        .limit(1)
    ).first()


def _change_of(event: ReviewEvent, actor: Actor) -> Message:
    """Describe what ``event`` did and who did it, as "you" when ``actor`` did."""
    if event.actor_id == actor.id:
        return Message(_CHANGES[(event.action, True)])
    return Message(_CHANGES[(event.action, False)], {"who": event.actor.username})


def _same_decision(event: ReviewEvent, draft: Draft, decision: Decision) -> bool:
    """Tell whether ``event`` already made ``decision``: the same action, or for an edit, an
    approval of the same text (an edit that changes no text is recorded as an approval)."""
    if decision.action != "edit":
        return event.action == decision.action
    return (
        event.action in ("edit", "approve")
        and draft.status is DraftStatus.APPROVED
        and normalized_text(draft.text) == decision.text
    )


def _apply(
    session: Session, actor: Actor, draft: Draft, decision: Decision, selection_digest: str | None = None
) -> None:
    before = draft.status
    if decision.action == "edit":
        if draft.original_text is None:
            draft.original_text = draft.text
        draft.text = decision.text
    draft.status = RESULT_STATUS[decision.action]
    session.add(
        ReviewEvent(
            draft_id=draft.id,
            actor_id=actor.id,
            action=decision.action,
            status_before=before.value,
            status_after=draft.status.value,
            note=decision.note,
            selection_digest=selection_digest,
        )
    )


def _flush(session: Session, draft_id: int | None = None) -> None:
    try:
        session.flush()
    except StaleDataError:
        # Another transaction updated the row between our read and our write.
        raise Conflict.from_template(
            N_("another reviewer changed draft {draft_id} at the same moment; nothing was "
               "saved. Reload it and decide again."),
            draft_id=draft_id if draft_id is not None else "?",
        ) from None  # fmt: skip


@dataclass
class BulkResult:
    """The outcome of a bulk action: the drafts it changed and those it skipped."""

    changed: list[int] = field(default_factory=list)
    # Drafts whose status does not allow the action, counted by status.
    skipped: dict[str, int] = field(default_factory=dict)
    # Drafts left unapproved because they are over the hard limit or contain a banned term,
    # and why, by draft id.
    breaking_rules: list[int] = field(default_factory=list)
    rule_errors: dict[int, InvalidInput] = field(default_factory=dict)
    # Drafts that the same reviewer gave the same decision after the version in the
    # selection (a form sent twice): nothing was written for them.
    already: list[int] = field(default_factory=list)

    def as_dict(self, locale: str = "en") -> dict[str, Any]:
        return {
            "changed": len(self.changed),
            "changed_ids": self.changed,
            "already_ids": self.already,
            "skipped": self.skipped,
            "breaking_rules_ids": self.breaking_rules,
            "breaking_rules": {
                str(draft_id): translate_error(error, locale) for draft_id, error in self.rule_errors.items()
            },
        }


def bulk_decision(action: str, note: str | None = None) -> Decision:
    """Build the decision of a bulk action, which approves or rejects but never edits.

    Raises:
        InvalidInput: for any other action.
    """
    if action not in ("approve", "reject"):
        raise InvalidInput.from_template(
            N_('bulk action "{value}" is not known; use approve or reject (edits are made '
               "one draft at a time)"),
            value=shorten(action),
        )  # fmt: skip
    return Decision(action, note=note)


def selected_versions(selection: Iterable[tuple[int, int | None]]) -> dict[int, int | None]:
    """Collect (draft id, version seen) pairs of a bulk selection into a dict.

    Raises:
        InvalidInput: if a draft is listed twice with different versions, since only one of
            them can be the version the reviewer saw.
    """
    versions: dict[int, int | None] = {}
    for draft_id, version in selection:
        if draft_id in versions and versions[draft_id] != version:
            raise _selected_twice(draft_id, versions[draft_id], version)
        versions[draft_id] = version
    return versions


def _selected_twice(draft_id: int, first: int | None, second: int | None) -> InvalidInput:
    if first is not None and second is not None:
        return InvalidInput.from_template(
            N_("draft {draft_id} is selected twice, with versions {first} and {second}; "
               "select each draft once. Nothing was changed."),
            draft_id=draft_id,
            first=first,
            second=second,
        )  # fmt: skip
    return InvalidInput.from_template(
        N_("draft {draft_id} is selected twice, once with version {version} and once without "
           "a version; select each draft once. Nothing was changed."),
        draft_id=draft_id,
        version=first if first is not None else second,
    )  # fmt: skip


def decide_many(
    session: Session,
    actor: Actor,
    decision: Decision,
    draft_ids: Sequence[int] = (),
    versions: dict[int, int] | None = None,
    draft_filter: DraftFilter | None = None,
    expected_count: int | None = None,
    expected_digest: str | None = None,
) -> BulkResult:
    """Approve or reject a selection of drafts, or every draft matching a filter, at once.

    Drafts whose status does not allow the action are skipped and counted by status, and
    an approval skips drafts that break a hard rule (see ``decide``). A draft that the same
    reviewer gave the same decision after the version they saw (the queue's form sent
    twice) is counted in ``BulkResult.already``. The others change in one transaction, each
    with its own review event. A filter-wide action sent again after it changed drafts finds
    its events by ``expected_digest`` and counts those drafts as already decided.

    Args:
        draft_ids: the selection; ignored when ``draft_filter`` is given.
        versions: the version of each selected draft that the reviewer saw.
        draft_filter: act on every draft it matches, on every page of the queue.
        expected_count: how many drafts the reviewer saw matching the filter; a different
            count now (new drafts arrived, others were decided) raises ``Conflict``.
        expected_digest: the ``selection_digest`` of the drafts the reviewer saw matching
            the filter. Unlike the count, it also catches drafts that arrived in place of
            as many decided ones, and drafts changed since.

    Raises:
        InvalidInput: for an edit (edits are one draft at a time), an empty selection or an
            ``expected_digest`` that is not a SHA-256 hex digest.
        NotFound: if a selected draft does not exist.
        Conflict: if a draft changed since its version in ``versions`` other than by this
            decision of this reviewer, or the drafts matching the filter differ from
            ``expected_count`` or ``expected_digest``.
    """
    actor.require(Permission.REVIEW)
    if decision.action == "edit":
        raise InvalidInput.from_template(N_("edits are made one draft at a time, not in bulk"))
    if draft_filter is None:
        ids = _selected_ids(draft_ids)
        seen_versions = versions or {}
    else:
        try:
            seen_versions = _matching_as_seen(session, draft_filter, expected_count, expected_digest)
        except Conflict:
            repeated = _repeated_bulk_action(session, actor, decision, expected_digest)
            if not repeated:
                raise
            logger.info(
                "bulk %s by %s sent again: drafts %s already decided so",
                decision.action, actor.username, repeated,
            )  # fmt: skip
            return BulkResult(already=repeated)
        ids = sorted(seen_versions)

    drafts = _locked_drafts(session, ids)
    result = BulkResult()
    locales: dict[int, str] = {}
    skipped: Counter[str] = Counter()
    for draft in drafts:
        # With a filter, these are the versions read for the comparison, so a draft that
        # changed between that read and its lock is a conflict too.
        seen = seen_versions.get(draft.id)
        if seen is not None and seen != draft.version:
            if _repeats_decision(session, actor, draft, decision, seen):
                result.already.append(draft.id)
                continue
            raise _changed_in_queue(session, actor, draft, seen)
        if draft.status not in ALLOWED_FROM[decision.action]:
            skipped[draft.status.value] += 1
            continue
        if decision.action == "approve" and (error := _rule_error(draft, decision, locales, bulk=True)) is not None:
            result.breaking_rules.append(draft.id)
            result.rule_errors[draft.id] = error
            continue
        _apply(session, actor, draft, decision, selection_digest=expected_digest if draft_filter else None)
        result.changed.append(draft.id)
    _flush(session)

    result.skipped = dict(skipped)
    logger.info(
        "bulk %s by %s: %d changed, %d already decided so, skipped %s, breaking hard rules %s",
        decision.action, actor.username, len(result.changed), len(result.already), result.skipped,
        result.breaking_rules,
    )  # fmt: skip
    return result


def _selected_ids(draft_ids: Sequence[int]) -> list[int]:
    if not draft_ids:
        raise InvalidInput.from_template(N_("no drafts selected; select drafts first"))
    return sorted(set(draft_ids))


# A SHA-256 digest in hexadecimal, as ``selection_digest`` writes it.
_DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")


def _matching_as_seen(
    session: Session,
    draft_filter: DraftFilter,
    expected_count: int | None,
    expected_digest: str | None,
) -> dict[int, int]:
    """Return the versions of the drafts matching the filter, by id, if they are the drafts
    the reviewer saw.

    Raises:
        InvalidInput: if ``expected_digest`` is not a SHA-256 hex digest.
        Conflict: if the count or the digest of the matching drafts differs.
    """
    if expected_digest is not None and not _DIGEST_PATTERN.fullmatch(expected_digest):
        raise InvalidInput.from_template(
            N_('"{value}" is not a digest of matching drafts, which has 64 hexadecimal digits; '
               "send the digest that the queue or GET /api/v1/drafts gave for the same filter. "
               "Nothing was changed."),
            value=shorten(expected_digest),
        )  # fmt: skip
    current = matching_versions(session, draft_filter)
    if expected_count is not None and len(current) != expected_count:
        raise Conflict.from_template(
            FILTER_COUNT_CHANGED,
            count=len(current),
            expected=expected_count,
        )  # fmt: skip
    if expected_digest is not None and selection_digest(current) != expected_digest:
        raise Conflict.from_template(
            FILTER_DRAFTS_CHANGED,
            count=len(current),
        )  # fmt: skip
    return current


def _id_chunks(ids: list[int]) -> Iterator[list[int]]:
    """Split ``ids`` into lists of 500, which keep an IN list under SQLite's and PostgreSQL's
    limits on query parameters."""
    for start in range(0, len(ids), 500):
        yield ids[start : start + 500]


def _repeated_bulk_action(
    session: Session, actor: Actor, decision: Decision, expected_digest: str | None
) -> list[int]:
    """Return the drafts that ``actor`` already gave ``decision`` in a filter-wide bulk action
    on the drafts whose digest was ``expected_digest``: the queue's form sent twice.

    Returns no drafts unless every draft of that action still has it as its newest event,
    because a draft changed since then is a conflict to report.
    """
    if expected_digest is None:
        return []
    events = session.scalars(
        select(ReviewEvent).where(
            ReviewEvent.selection_digest == expected_digest, ReviewEvent.actor_id == actor.id
        )
    ).all()
    if not events or any(event.action != decision.action or event.note != decision.note for event in events):
        return []
    newest: dict[int, int] = {}
    for chunk in _id_chunks([event.draft_id for event in events]):
        newest.update(
            session.execute(
                select(ReviewEvent.draft_id, func.max(ReviewEvent.id))
                .where(ReviewEvent.draft_id.in_(chunk))
                .group_by(ReviewEvent.draft_id)
            ).all()
        )
    if any(newest.get(event.draft_id) != event.id for event in events):
        return []
    return sorted(event.draft_id for event in events)


def _locked_drafts(session: Session, ids: list[int]) -> list[Draft]:
    drafts: list[Draft] = []
    # An id out of range matches no draft, and PostgreSQL rejects comparing with one.
    for chunk in _id_chunks([draft_id for draft_id in ids if id_in_range(draft_id)]):
        drafts.extend(
            session.scalars(
                select(Draft)
                .where(Draft.id.in_(chunk))
                .order_by(Draft.id)
                .options(selectinload(Draft.request).selectinload(GenerationRequest.campaign))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
    missing = sorted(set(ids) - {draft.id for draft in drafts})
    if missing:
        listed = ", ".join(shorten(draft_id) for draft_id in missing[:LISTED_MISSING])
        if len(missing) > LISTED_MISSING:
            raise NotFound.from_template(
                N_("{count} drafts not found, such as {ids}; nothing was changed"),
                count=len(missing),
                ids=listed,
            )
        raise NotFound.from_template(N_("drafts not found: {ids}; nothing was changed"), ids=listed)
    return drafts


def history(session: Session, draft_id: int) -> list[dict[str, Any]]:
    """Return a draft's review events, oldest first.

    Raises:
        NotFound: if no draft has that id.
    """
    get_draft(session, draft_id)
    events = session.scalars(
        select(ReviewEvent).where(ReviewEvent.draft_id == draft_id).order_by(ReviewEvent.id)
    )
    return [
        {
            "action": event.action,
            "actor": event.actor.username if event.actor else None,
            "status_before": event.status_before,
            "status_after": event.status_after,
            "note": event.note,
            "created_at": utc_iso(event.created_at),
        }
        for event in events
    ]


def actor_by_name(session: Session, username: str) -> Actor:
    """Return the active user ``username`` as an actor, for the review commands.

    Raises:
        NotFound: if there is no such user.
        PermissionDenied: if the user is disabled.
    """
    user = get_user(session, username)
    if not user.is_active:
        raise PermissionDenied.from_template(
            N_("user {username} is disabled; an admin can enable it with: "
               "contentgen users enable {username}"),
            username=username,
        )
    return Actor.of(user)
