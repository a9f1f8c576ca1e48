"""HTTP status codes for contentgen's errors, and request validation errors as text and JSON,
shared by the API and the pages."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contentgen import batches, drafts, review, segments, users
from contentgen.errors import (
    Conflict,
    ContentgenError,
    InfrastructureError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    shorten,
)
from contentgen.i18n import N_, Message, translate_error
from contentgen.web._auth import CsrfFailed, NotAuthenticated

# The first class that matches wins, so subclasses come before InvalidInput.
STATUS_CODES: list[tuple[type[ContentgenError], int]] = [
    (NotAuthenticated, 401),
    (PermissionDenied, 403),
    (CsrfFailed, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (InfrastructureError, 503),
]


def status_code_of(error: ContentgenError) -> int:
    for error_class, status_code in STATUS_CODES:
        if isinstance(error, error_class):
            return status_code
    return 500


# Messages whose fix on the command line is a command, worded for the pages and for the API,
# with the same fields. The command line keeps the core modules' wording.
PAGE_WORDING = {
    batches.NO_CAMPAIGNS: N_("the file defines no campaigns, so there is nothing to submit; "
                             "add at least one campaign to it and upload it again"),
    batches.BATCH_NOT_FOUND: N_("batch {batch_id} not found; check the id, or open the batch "
                                "from the batches page"),
    users.USER_NOT_FOUND: N_('user "{username}" not found; the users page lists every user'),
    users.LAST_ADMIN_ROLE: N_('user "{username}" is the only active admin, so their role '
                              "cannot change to {role}; give another user the role admin "
                              "first. Nothing was changed."),
    users.LAST_ADMIN_DISABLED: N_('user "{username}" is the only active admin, so they cannot '
                                  "be disabled; give another user the role admin first. "
                                  "Nothing was changed."),
    drafts.CAMPAIGN_NOT_FOUND: N_('campaign "{key}" not found; choose a campaign from the '
                                  "review queue's campaign filter"),
    segments.NO_CAMPAIGN_FOR_SEGMENT: N_('segment "{segment}" not found: no campaign is '
                                         "imported yet; submit a campaign file first"),
}  # fmt: skip
def _api_conflicts() -> dict[str, str]:
    """Word the review conflicts for API clients, which read drafts from the API rather than
    open a page or load the queue."""
    no_draft_version, draft_changed, draft_changed_by = review.DRAFT_CONFLICTS
    no_queue_version, queue_changed, queue_changed_by = review.QUEUE_CONFLICTS
    return {
        no_draft_version: N_("draft {draft_id} has no version {seen}; the current version is "
                             "{current}. Nothing was saved. Read the draft again with GET "
                             "/api/v1/drafts/{draft_id} and send its version."),
        draft_changed: N_("draft {draft_id} was changed after you read it (version {seen}, now "
                          "{current}, status {status}); nothing was saved. Read it again with "
                          "GET /api/v1/drafts/{draft_id} and decide again."),
        draft_changed_by: N_("draft {draft_id} was {change} after you read it (version {seen}, "
                             "now {current}); nothing was saved. Read it again with GET "
                             "/api/v1/drafts/{draft_id} and decide again."),
        review.DRAFT_REJECTED_SINCE: N_("draft {draft_id} was {change} after you read it (version "
                                        "{seen}, now {current}); nothing was saved, and a "
                                        "rejected draft is final"),
        no_queue_version: N_("draft {draft_id} has no version {seen}; the current version is "
                             "{current}. Nothing was changed. List the drafts again with GET "
                             "/api/v1/drafts and send their current versions."),
        queue_changed: N_("draft {draft_id} was changed after you read it (version {seen}, now "
                          "{current}, status {status}); nothing was changed. List the drafts "
                          "again with GET /api/v1/drafts and send their current versions."),
        queue_changed_by: N_("draft {draft_id} was {change} after you read it (version {seen}, "
                             "now {current}); nothing was changed. List the drafts again with "
                             "GET /api/v1/drafts and send their current versions."),
        review.QUEUE_REJECTED_SINCE: N_("draft {draft_id} was {change} after you read it (version "
                                        "{seen}, now {current}); nothing was changed. A rejected "
                                        "draft is final, so leave it out of the request."),
        review.FILTER_COUNT_CHANGED: N_("the filter now matches {count} drafts, not the {expected} "
                                        "you saw; nothing was changed. List them again with GET "
                                        "/api/v1/drafts and send the new total and digest."),
        review.FILTER_DRAFTS_CHANGED: N_("the drafts that match the filter are not the ones you "
                                         "saw: drafts were added, decided or changed since, and "
                                         "{count} match now; nothing was changed. List them again "
                                         "with GET /api/v1/drafts and send the new digest."),
    }  # fmt: skip


API_WORDING = {
    **PAGE_WORDING,
    batches.BATCH_NOT_FOUND: N_("batch {batch_id} not found; check the id, or list the newest "
                                "batches with GET /api/v1/batches"),
    users.USER_NOT_FOUND: N_('user "{username}" not found; list users with GET /api/v1/users'),
    users.LAST_ADMIN_ROLE: N_('user "{username}" is the only active admin, so their role '
                              "cannot change to {role}; make another user admin first, with "
                              "PATCH /api/v1/users/USERNAME. Nothing was changed."),
    users.LAST_ADMIN_DISABLED: N_('user "{username}" is the only active admin, so they cannot '
                                  "be disabled; make another user admin first, with PATCH "
                                  "/api/v1/users/USERNAME. Nothing was changed."),
    users.NO_SUCH_TOKEN: N_("user {username} has no API token {token_id}; list the tokens "
                            "with GET /api/v1/users/{username}/tokens"),
    drafts.CAMPAIGN_NOT_FOUND: N_('campaign "{key}" not found; check the key against the '
                                  "campaign of the drafts that GET /api/v1/drafts lists"),
    drafts.DRAFT_NOT_FOUND: N_("draft {draft_id} not found; check the id, or find the draft "
                               "in the list that GET /api/v1/drafts returns"),
    segments.NO_CAMPAIGN_FOR_SEGMENT: N_('segment "{segment}" not found: no campaign is '
                                         "imported yet; submit a campaign file with POST "
                                         "/api/v1/batches first"),
    **_api_conflicts(),
}  # fmt: skip


def web_message(error: ContentgenError, locale: str, api: bool) -> str:
    """Return the error's message in ``locale``, worded for the pages, or for the API when
    ``api`` is true."""
    wording = (API_WORDING if api else PAGE_WORDING).get(error.template or "")
    if wording is not None:
        error = type(error).from_template(wording, **(error.params or {}))
    return translate_error(error, locale)


# Messages for the pydantic error types that requests commonly hit, with the ``ctx`` values
# they name; other types keep pydantic's English message. ``actual_length`` is in the
# context of ``too_long``, and ``_problem`` adds ``length`` for ``string_too_long``.
_PROBLEM_TEMPLATES = {
    "missing": (N_("missing; send a value"), ()),
    "int_parsing": (N_("not a whole number"), ()),
    "int_type": (N_("not a whole number; send a JSON number such as 1"), ()),
    "bool_type": (N_("not true or false; send a JSON boolean"), ()),
    # The text that pydantic reads as a boolean in a query parameter or form field.
    "bool_parsing": (
        N_("not true or false; send true or false. In any letter case, t, y, yes, on and 1 also "
           "mean true, and f, n, no, off and 0 mean false"),
        (),
    ),  # fmt: skip
    "string_type": (N_("not text; send a JSON string"), ()),
    "greater_than": (N_("must be greater than {gt}"), ("gt",)),
    "greater_than_equal": (N_("must be {ge} or more"), ("ge",)),
    "less_than": (N_("must be less than {lt}"), ("lt",)),
    "less_than_equal": (N_("must be {le} or less"), ("le",)),
    "literal_error": (N_("must be one of: {expected}"), ("expected",)),
    "too_long": (
        N_("has {actual_length} items, over the maximum of {max_length}; split them into "
           "requests of at most {max_length} items each"),
        ("actual_length", "max_length"),
    ),  # fmt: skip
    "string_too_long": (
        N_("has {length} characters, over the maximum of {max_length}; shorten it"),
        ("length", "max_length"),
    ),
    "repeated_parameter": (N_("given more than once; give it once"), ()),
    "json_invalid": (N_("not valid JSON ({error}); check its quotes, commas and brackets"), ("error",)),
    # A JSON array or value where the route takes an object, or a form body sent to a
    # JSON route. ``_not_an_object`` words the same error for a field inside the body.
    "model_attributes_type": (
        N_("not a JSON object; send the fields as a JSON object with the header "
           "Content-Type: application/json"),
        (),
    ),  # fmt: skip
}
# The types whose message is followed by the value sent, as in "must be 1 or more (got 0)".
_TYPES_SHOWING_VALUE = {
    "int_parsing", "int_type", "bool_type", "bool_parsing", "string_type", "greater_than",
    "greater_than_equal", "less_than", "less_than_equal", "literal_error",
}  # fmt: skip


def validation_problems(
    errors: Sequence[Any], object_examples: Mapping[str, str] | None = None
) -> list[Problem]:
    """Describe FastAPI's request validation errors, each with its field and a message.

    The raw errors can hold the exception that failed (in ``ctx``) and the whole input,
    which JSON cannot encode or which may be megabytes long, so only the ``ctx`` values
    that a message names are kept.

    Args:
        object_examples: an example of the JSON object that a body field takes, by the
            field's dotted path with "*" for a list index ("drafts.*"), for the message of
            a value that is not an object or a list of them.
    """
    return [_problem(error, object_examples or {}) for error in errors]


@dataclass(frozen=True)
class Problem:
    location: list[Any]
    type: str
    message: Message

    def as_json(self, locale: str) -> dict[str, Any]:
        return {"loc": self.location, "msg": self.message.render(locale), "type": self.type}


def _problem(error: Any, object_examples: Mapping[str, str]) -> Problem:
    location = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
    kind = str(error.get("type", ""))
    english = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if kind in _NOT_AN_OBJECT and len(location) > 1 and location[0] == "body":
        message = _not_an_object(location[1:], error.get("input"), object_examples)
    elif kind == "list_type" and len(location) > 1 and location[0] == "body":
        message = _not_a_list(location[1:], error.get("input"), object_examples)
    elif "Expected UploadFile" in english:
        message = Message(N_("expected an uploaded file but got a text field; send the file's "
                             "contents, e.g. with curl: -F file=@campaigns.yaml"))  # fmt: skip
    elif kind == "extra_forbidden" and location[:1] == ["query"]:
        message = Message(N_("unknown parameter; correct its spelling or remove it (/api/v1/docs lists them)"))
    elif kind == "extra_forbidden":
        message = Message(N_("unknown field; correct its spelling or remove it (/api/v1/docs lists them)"))
    elif kind in _PROBLEM_TEMPLATES:
        template, names = _PROBLEM_TEMPLATES[kind]
        context = dict(error.get("ctx") or {})
        if isinstance(error.get("input"), str):
            context["length"] = len(error["input"])
        if kind == "literal_error":
            # pydantic lists the choices as "'approve' or 'reject'".
            context["expected"] = ", ".join(re.findall(r"'([^']*)'", str(context.get("expected", ""))))
        message = Message(template, {name: _bound(context.get(name, "?")) for name in names})
    else:
        # The template is pydantic's own text, which has no catalogue entry.
        message = Message("{text}", {"text": english})
    if kind in _TYPES_SHOWING_VALUE and "input" in error and not isinstance(error["input"], dict | list):
        message = Message(N_("{message} (got {value})"), {"message": message, "value": _shown(error["input"])})
    return Problem(location, kind, message)


# pydantic's types for a value that is not an object where a model is expected.
_NOT_AN_OBJECT = {"model_attributes_type", "model_type"}


def _not_an_object(path: list[Any], value: Any, object_examples: Mapping[str, str]) -> Message:
    """Describe a field of the JSON body, at ``path``, that is not an object."""
    example = object_examples.get(_example_key(path))
    if isinstance(path[-1], int) and example is not None:
        message = Message(N_("not a JSON object; each item of {list} is an object such as {example}"),
                          {"list": ".".join(map(str, path[:-1])), "example": example})  # fmt: skip
    elif example is not None:
        message = Message(N_("not a JSON object; send an object such as {example}"), {"example": example})
    else:
        message = Message(N_("not a JSON object; send an object with the fields that /api/v1/docs lists"))
    if isinstance(value, dict | list):
        return message
    return Message(N_("{message} (got {value})"), {"message": message, "value": _shown(value)})


def _not_a_list(path: list[Any], value: Any, object_examples: Mapping[str, str]) -> Message:
    """Describe a field of the JSON body, at ``path``, that is not a list."""
    example = object_examples.get(_example_key(path) + ".*")
    if example is not None:
        message = Message(N_("not a JSON array; send a list such as [{example}]"), {"example": example})
    else:
        message = Message(N_("not a JSON array; send the items in square brackets"))
    if isinstance(value, dict | list):
        return message
    return Message(N_("{message} (got {value})"), {"message": message, "value": _shown(value)})


def _example_key(path: list[Any]) -> str:
    # ["drafts", 0] is the key "drafts.*" of object_examples.
    return ".".join("*" if isinstance(part, int) else str(part) for part in path)


def _bound(value: Any) -> str:
    # A value from pydantic's context, where a limit of 2.0 reads as 2.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shown(value: Any) -> Message | str:
    # A value as JSON writes it, cut to the length that error messages quote. Text, which
    # includes every query parameter and form field, is in the reader's quotation marks.
    if isinstance(value, str):
        return Message(N_('"{value}"'), {"value": shorten(value)})
    return shorten(json.dumps(value, ensure_ascii=False, default=str))


def validation_message(problems: list[Problem], locale: str) -> str:
    """Join ``problems`` into one line in ``locale``, each after its field's name."""
    lines = [
        Message(N_("{field}: {problem}"), {"field": _field_name(problem.location), "problem": problem.message})
        for problem in problems
    ]
    return Message("{items}", {"items": lines}).render(locale)


def _field_name(location: list[Any]) -> Message | str:
    # ["body", "filter", "campaign"] is the field filter.campaign; ["body"] alone, or
    # ["body", 12] for a JSON syntax error at character 12, is the request body.
    parts = [str(part) for part in location if part != "body"]
    if not parts or (len(location) == 2 and location[0] == "body" and isinstance(location[1], int)):
        return Message(N_("request body"))
    if parts[0] == "query" and len(parts) > 1:
        return Message(N_('query parameter "{name}"'), {"name": ".".join(parts[1:])})
    if parts[0] == "path" and len(parts) > 1:
        return Message(N_('path parameter "{name}"'), {"name": ".".join(parts[1:])})
    return ".".join(parts)
