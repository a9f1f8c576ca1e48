"""The JSON API under /api/v1: everything the pages do, for scripts and other tools.

Every route needs a bearer token (``contentgen users token USERNAME``); the role decides
what it may do, as on the pages. The OpenAPI schema is at /api/v1/openapi.json.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.datastructures import UploadFile as StarletteUploadFile

from contentgen import db
from contentgen._names import closest
from contentgen.batches import batch_progress, cancel_batch, list_batches, resubmit_command
from contentgen.cleared_fields import ClearedFields, batch_warnings
from contentgen.dispatch import SubmissionPlan
from contentgen.drafts import PAGE_SIZE, DraftFilter, draft_details, queue_page
from contentgen.errors import InfrastructureError, InvalidInput, shorten
from contentgen.export import FORMATS, check_format, export_batch
from contentgen.i18n import LOCALES, N_, Message
from contentgen.models import ApiToken, Batch, utc_iso
from contentgen.review import Decision, decide, decide_many, history, selected_versions
from contentgen.templates import list_template_versions, sync_templates
from contentgen.users import (
    Actor,
    Permission,
    Role,
    create_user,
    get_user,
    list_api_tokens,
    list_users,
    parse_role,
    revoke_api_token,
    set_active,
    set_locale,
    set_password,
    set_role,
)
from contentgen.web._auth import api_actor, current_api_actor
from contentgen.web._idempotency import HEADER as IDEMPOTENCY_HEADER
from contentgen.web._idempotency import idempotency_key as request_idempotency_key
from contentgen.web._render import request_locale
from contentgen.web._submit import dry_run_upload, retry_failed, submit_upload

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"


def forbid_unknown_query(request: Request) -> None:
    """Reject a query parameter that the route does not take, as JSON bodies reject unknown
    fields: ``?fromat=json`` or ``?version=1`` on a route that reads neither would otherwise
    be ignored without a word.

    Raises:
        RequestValidationError: naming each unknown parameter (422).
    """
    route = request.scope.get("route")
    if not request.query_params or route is None:
        return
    operation = request.app.openapi()["paths"].get(PREFIX + route.path_format, {})
    known = {
        parameter["name"]: parameter.get("schema", {}).get("type") == "array"
        for parameter in operation.get(request.method.lower(), {}).get("parameters", [])
        if parameter["in"] == "query"
    }
    names = [name for name, _ in request.query_params.multi_items()]
    unknown = [name for name in dict.fromkeys(names) if name not in known]
    # A parameter given twice would silently take its last value.
    repeated = [name for name in dict.fromkeys(names) if names.count(name) > 1 and known.get(name) is False]
    if unknown or repeated:
        raise RequestValidationError(
            [{"type": "extra_forbidden", "loc": ("query", name), "msg": "Extra inputs are not permitted",
              "input": request.query_params[name]} for name in unknown]
            + [{"type": "repeated_parameter", "loc": ("query", name), "msg": "given more than once",
                "input": request.query_params.getlist(name)} for name in repeated]
        )  # fmt: skip


async def forbid_unknown_form_fields(request: Request) -> None:
    """Reject a form field that the route does not take, one given more than once, or an
    empty boolean field or idempotency key, as ``forbid_unknown_query`` does for query parameters. FastAPI would
    ignore ``dryrun=true``, keep only the last of two ``dry_run`` fields or two files, and
    read ``dry_run=`` as the default, false, so a caller who meant a dry run would create a
    batch.

    FastAPI parses the form before it runs dependencies and Starlette caches it, so
    ``request.form()`` reads nothing again, and the route's function has not run yet.

    Raises:
        InvalidInput: naming the first five unknown, repeated or empty fields, with the
            closest known name for a misspelt one (422).
    """
    route = request.scope.get("route")
    if route is None:
        return
    openapi = request.app.openapi()
    operation = openapi["paths"].get(PREFIX + route.path_format, {}).get(request.method.lower(), {})
    schema = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data", {}).get("schema")
    if schema is None:
        return
    if "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    fields = schema.get("properties", {})
    known = {name: field.get("type") == "array" for name, field in fields.items()}

    form = await request.form()
    names = [name for name, _ in form.multi_items()]
    problems: list[Message] = []
    for name in dict.fromkeys(names):
        if name not in known:
            problems.append(_unknown_form_field(name, list(known)))
        elif names.count(name) > 1 and not known[name]:
            problems.append(_repeated_form_field(name, form.getlist(name)))
        elif fields[name].get("type") == "boolean" and form[name] == "":
            problems.append(_empty_boolean_field(name, fields[name]))
        elif name == "idempotency_key" and form[name] == "":
            # FastAPI would read it as no key, so a retry of a script whose key variable is
            # unset would create a second batch. A key of spaces reaches the submission,
            # which rejects it.
            problems.append(Message(N_('form field "{name}": empty; send a key, or leave the field out '
                                       "to submit without one"), {"name": name}))  # fmt: skip
    if problems:
        raise InvalidInput.from_template(
            N_("{problems}. Nothing was written."), problems=Message("{items}", {"items": problems[:5]})
        )


async def forbid_unexpected_body(request: Request) -> None:
    """Reject a body sent to a route that reads none, such as ``POST .../cancel``, other
    than an empty JSON object, which some HTTP clients send with every POST. FastAPI would
    ignore the body, so a client that sent ``{"dry_run": true}`` would cancel for real.

    Routes take it as their ``NoBody`` parameter after the user's, so that a request without
    a token or role gets 401 or 403 first.

    Raises:
        InvalidInput: naming the route and the body's size (422).
    """
    body = await request.body()
    if not body or _is_empty_object(body):
        return
    # A form body reaches here re-encoded (see _form_encoding), so the size is the client's.
    size = request.headers.get("content-length", "")
    raise InvalidInput.from_template(
        N_("{method} {path} takes no request body, but this request sent {size} bytes; send "
           "none, or an empty JSON object. Nothing was changed."),
        method=request.method, path=shorten(request.url.path),
        size=int(size) if size.isascii() and size.isdigit() else len(body),
    )  # fmt: skip


def _is_empty_object(body: bytes) -> bool:
    try:
        return json.loads(body) == {}
    except ValueError:
        return False


NoBody = Annotated[None, Depends(forbid_unexpected_body)]


def _unknown_form_field(name: str, known: list[str]) -> Message:
    close = closest(name, known)
    if close is not None:
        return Message(N_('form field "{name}": unknown field; correct it to "{close}" or remove it'),
                       {"name": shorten(name), "close": close})  # fmt: skip
    return Message(N_('form field "{name}": unknown field; remove it or use one of: {fields}'),
                   {"name": shorten(name), "fields": ", ".join(known)})  # fmt: skip


def _repeated_form_field(name: str, values: list[Any]) -> Message:
    # A parsed form contains Starlette's UploadFile, of which FastAPI's is a subclass.
    if any(isinstance(value, StarletteUploadFile) for value in values):
        return Message(N_('form field "{name}": {count} files, but one request imports one file; '
                          "send each file in its own request"),
                       {"name": name, "count": len(values)})  # fmt: skip
    return Message(N_('form field "{name}": given {count} times; give it once'), {"name": name, "count": len(values)})


def _empty_boolean_field(name: str, field: dict[str, Any]) -> Message:
    if "default" in field:
        return Message(N_('form field "{name}": empty; send true or false, or leave the field out, '
                          "which means {default}"),
                       {"name": name, "default": json.dumps(field["default"])})  # fmt: skip
    return Message(N_('form field "{name}": empty; send true or false'), {"name": name})


class ErrorBody(BaseModel):
    detail: str = Field(description="What is wrong and how to fix it, in the caller's language.")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='Where the value is, e.g. ["body", "version"] or ["query", "page"].')
    msg: str
    type: str = Field(description='pydantic\'s error type, e.g. "missing" or "extra_forbidden".')


class FileProblem(BaseModel):
    kind: Literal["campaign", "brand"] | None = Field(description="What the key names; null for the whole file.")
    key: str | None
    row: int | None = Field(description="The CSV line, the header being line 1; null for YAML.")
    field: str
    detail: str = Field(description="The problem in English, for scripts.")
    message: str = Field(description="The problem in the caller's language.")


class InvalidRequestBody(ErrorBody):
    errors: list[FieldError] | None = Field(None, description="One per invalid parameter or field.")
    problems: list[FileProblem] | None = Field(None, description="One per error in an uploaded campaign file.")


# The error responses that any route with a token may send, for the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No bearer token, or one that is unknown or revoked"},
    403: {"model": ErrorBody, "description": "The token's user lacks the role for this"},
    404: {"model": ErrorBody, "description": "No such batch, draft, campaign, segment or user"},
    409: {"model": ErrorBody, "description": "The record changed since you read it, or its state forbids this"},
    413: {"model": ErrorBody, "description": "The request body is over the size limit"},
    422: {"model": InvalidRequestBody, "description": "An invalid parameter, body or campaign file"},
    503: {"model": ErrorBody, "description": "The database or broker is unreachable or failed; the server log gives the reason"},
}

router = APIRouter(
    tags=["contentgen"],
    dependencies=[Depends(forbid_unknown_query), Depends(forbid_unknown_form_fields)],
    responses=ERROR_RESPONSES,
)
# Routes that need no token and take any query, as some uptime checkers add one to defeat
# caches.
public_router = APIRouter(tags=["contentgen"])

Viewer = Annotated[Actor, Depends(api_actor(Permission.VIEW))]
Submitter = Annotated[Actor, Depends(api_actor(Permission.SUBMIT))]
Reviewer = Annotated[Actor, Depends(api_actor(Permission.REVIEW))]
Exporter = Annotated[Actor, Depends(api_actor(Permission.EXPORT))]
Admin = Annotated[Actor, Depends(api_actor(Permission.ADMIN))]


def reject_surrogates(data: Any, path: str = "") -> Any:
    """Return ``data`` unchanged if no text in it has an unpaired UTF-16 surrogate.

    JSON's "\\ud800" escape decodes to such a code point, which is not valid Unicode:
    the database driver cannot encode it, and no copy needs it.

    Raises:
        ValueError: naming the field, for pydantic to report as a 422.
    """
    if isinstance(data, str):
        found = _SURROGATE.search(data)
        if found is not None:
            raise ValueError(
                f"{path or 'a value'} contains the unpaired UTF-16 surrogate "
                f"U+{ord(found.group()):04X}, which is not valid Unicode; send each character "
                "above U+FFFF as a pair of escapes (\\ud83d\\ude00), or as UTF-8"
            )
    elif isinstance(data, dict):
        for key, value in data.items():
            reject_surrogates(key, "a field name")
            reject_surrogates(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            reject_surrogates(item, f"{path}[{index}]")
    return data


_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonBody(BaseModel):
    """A JSON request body. An unknown field or a value of the wrong JSON type ("true" or 1
    for a boolean) is rejected with 422, so a misspelt field never goes unnoticed."""

    model_config = ConfigDict(extra="forbid", strict=True)

    _no_surrogates = model_validator(mode="before")(reject_surrogates)


class QueueQuery(BaseModel):
    """The review queue's filter; empty fields match everything."""

    _no_surrogates = model_validator(mode="before")(reject_surrogates)

    # Text is accepted too, so that DraftFilter rejects "abc" with its own message.
    batch_id: int | str | None = None
    campaign: str | None = None
    channel: str | None = None
    segment: str | None = Field(
        None,
        description="a segment key, or a segment's name when one segment key has that name "
        "(within the campaign and batch, when they are given)",
    )
    status: str = Field("open", description="open (pending_review and flagged), a status, or all")
    check: str | None = Field(None, description="passed, failed, or failed:NAME")
    sort: str = Field("score", description="score, oldest, newest, campaign or length")

    def to_filter(self) -> DraftFilter:
        return DraftFilter.from_params(**self.model_dump())


class BulkFilter(QueueQuery):
    """A bulk action's filter. An unknown field is rejected, so that a misspelt one never
    widens the action to every draft."""

    model_config = ConfigDict(extra="forbid", strict=True)


# Draft versions start at 1 and are stored as 32-bit integers.
Version = Annotated[int, Field(ge=1, le=2**31 - 1)]


class ApproveBody(JsonBody):
    version: Version | None = Field(
        None,
        description="The draft version you saw; a newer one is a conflict (409). Optional, but "
        "without it the decision applies to the current version, whoever changed it since.",
    )


class RejectBody(ApproveBody):
    reason: str


class EditBody(ApproveBody):
    text: str
    note: str | None = None


# An example of each JSON object inside a request body, by the field's dotted path with "*"
# for a list index. The 422 for a value there that is not an object, or for a list of
# them that is not a list, shows the example.
OBJECT_EXAMPLES = {
    "drafts.*": '{"id": 11, "version": 3}',
    "filter": '{"batch_id": 12, "status": "flagged"}',
}


class DraftRef(JsonBody):
    id: int
    version: Version | None = None


# The maximum number of drafts one bulk request may list; a filter acts on any number.
MAX_BULK_DRAFTS = 10_000


class BulkBody(JsonBody):
    """Act on the listed drafts, or on every draft matching ``filter`` when it is given."""

    action: Literal["approve", "reject"]
    reason: str | None = None
    drafts: list[DraftRef] = Field([], max_length=MAX_BULK_DRAFTS)
    filter: BulkFilter | None = None
    expected_count: int | None = Field(
        None,
        ge=0,
        description="With filter: how many drafts you saw matching it (the total of GET "
        "/api/v1/drafts); a different count is a conflict (409). Give this, expected_digest "
        "or both.",
    )
    expected_digest: str | None = Field(
        None,
        description="With filter: the digest that GET /api/v1/drafts returned for the same "
        "filter. If the matching drafts are not the same drafts at the same versions, the "
        "answer is a conflict (409), even when their number is the same.",
    )


class NewUser(JsonBody):
    username: str
    password: str
    role: str
    locale: str | None = None


class UserChange(JsonBody):
    role: str | None = None
    active: bool | None = None
    password: str | None = Field(
        None, description="A new password; it ends the user's page sessions, and their API tokens keep working."
    )


class MeChange(JsonBody):
    locale: str | None = Field(
        None,
        description="en or zh-CN; null follows Accept-Language. Other tags of these languages, "
        "such as zh, zh-Hans, zh_CN or en-US, in any letter case, are stored as en or zh-CN.",
    )


def _user_json(user) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role,
        "active": user.is_active,
        "locale": user.locale,
        "created_at": utc_iso(user.created_at),
    }


# --- the caller ------------------------------------------------------------------------


@public_router.get(
    "/health",
    summary="Whether the server can serve requests: its database is reachable and up to date",
    responses={503: {"description": "The database is unreachable or its schema is out of date"}},
)
def get_health() -> JSONResponse:
    # No token is needed, so that load balancers and uptime checks can call it. The reason
    # for a failure, which names the database, goes to the server log only.
    try:
        db.check_schema()
    except InfrastructureError as error:
        logger.warning("health check failed: %s", error)
        body = {"status": "unavailable", "database": "failed; the server log says why"}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/me", summary="The user the token belongs to")
def get_me(actor: Annotated[Actor, Depends(current_api_actor)]) -> dict[str, Any]:
    return {"username": actor.username, "role": actor.role.value, "locale": actor.locale}


@router.patch("/me", summary="Set your language")
def patch_me(body: MeChange, actor: Annotated[Actor, Depends(current_api_actor)]) -> dict[str, Any]:
    if "locale" not in body.model_fields_set:
        # {"locale": null} follows Accept-Language, so {} must not be read as that.
        raise InvalidInput.from_template(
            N_("the request body gives no field to change; send locale: one of {locales}, or "
               "null to follow Accept-Language, e.g. {example}"),
            locales=", ".join(LOCALES),
            example='{"locale": "zh-CN"}',
        )  # fmt: skip
    with db.session_scope() as session:
        return _user_json(set_locale(session, actor.id, body.locale))


# --- batches ---------------------------------------------------------------------------


@router.get("/batches", summary="The newest batches with requests by state and drafts by status")
def get_batches(
    actor: Viewer, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[dict[str, Any]]:
    with db.session_scope() as session:
        return [progress.as_dict() for progress in list_batches(session, limit)]


def require_multipart_upload(request: Request) -> None:
    """Reject a request to ``POST /api/v1/batches`` whose body is not multipart/form-data.

    FastAPI reads such a body, a JSON object for instance, as a form without fields, so it
    would only report that the field "file" is missing.

    Raises:
        InvalidInput: naming the Content-Type sent (422).
    """
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        return
    if not media_type:
        raise InvalidInput.from_template(
            N_('POST /api/v1/batches takes a multipart/form-data upload with the campaign file in '
               'the form field "file", but the request has no Content-Type header; send the file '
               "e.g. with curl: -F file=@campaigns.yaml. Nothing was written.")
        )  # fmt: skip
    raise InvalidInput.from_template(
        N_('POST /api/v1/batches takes a multipart/form-data upload with the campaign file in the '
           'form field "file", but the request has Content-Type {content_type}; send the file e.g. '
           "with curl: -F file=@campaigns.yaml. Nothing was written."),
        content_type=shorten(media_type),
    )  # fmt: skip


@router.post(
    "/batches",
    status_code=201,
    summary="Submit a campaign file as a new batch, or check it with a dry run",
    responses={200: {"description": "The idempotency key made a batch before: that batch. With "
                     "dry_run: the requests the batch would have; nothing is written"}},
)
def post_batch(
    request: Request,
    actor: Submitter,
    # After the token check, so that a caller without a valid token gets 401 first.
    multipart_upload: Annotated[None, Depends(require_multipart_upload)],
    response: Response,
    file: Annotated[UploadFile, File(description="A .yaml, .yml or .csv campaign file.")],
    idempotency_key: Annotated[
        str | None,
        Form(description="Any text up to 200 characters that names this submission. Sending "
             "the same key with the same content again returns the batch it made (200) and "
             "creates nothing; the same key with other content is a 422. The Idempotency-Key "
             "header does the same."),
    ] = None,
    # Declared for the OpenAPI schema only. ``request_idempotency_key`` reads the header itself,
    # because it must also detect a repeated header.
    idempotency_key_header: Annotated[
        str | None,
        Header(alias=IDEMPOTENCY_HEADER,
               description="The idempotency key, as the form field idempotency_key takes it: "
               'bare (Idempotency-Key: spring-launch-1) or as a quoted string ("spring-launch-1"). '
               "ASCII only. Given with a different form field, it is a 422."),
    ] = None,
    dry_run: Annotated[
        bool,
        Form(description="true: validate and import the file and create the batch, with every "
             "prompt rendered, in a transaction that is rolled back. The response (200) has the "
             "request counts and warnings, and nothing is written or sent to the workers."),
    ] = False,
) -> dict[str, Any]:
    """Validate and import the file and create one batch (201). An invalid file gets 422 with
    ``problems``: one object per error with the campaign key and field. ``warnings`` lists
    stored brands and campaigns whose fields the import cleared because the file leaves
    them out. A repeated submission with the same key returns the warnings of the batch's
    first import. ``next_step`` describes in English what happens next, and
    ``next_step_message`` gives the same text in the caller's language.

    With ``dry_run``, the response is 200 with ``dry_run`` true, ``written`` false,
    ``request_count``, ``requests`` (counts by campaign, channel and max_new_tokens),
    ``warnings``, ``matched_batch_id`` (the batch that the idempotency key made from the same
    content, else null), ``next_step`` and ``next_step_message``, and no batch id. An invalid
    file gets the same 422."""
    key = request_idempotency_key(request, idempotency_key)
    if dry_run:
        response.status_code = 200
        return _plan_json(dry_run_upload(file, key), request_locale(request))
    result = submit_upload(file, key)
    batch_id = result.submission.batch_id
    if not result.submission.created:
        response.status_code = 200
    locale = request_locale(request)
    with db.session_scope() as session:
        progress = batch_progress(session, batch_id)
        body = progress.as_dict()
        warnings = _warnings_json(progress.batch, locale)
    next_step = _next_step(result.dispatch, batch_id, cancelled=body["requests"]["cancelled"])
    return {**body, "created": result.submission.created, "dispatch": result.dispatch,
            "next_step": next_step.render("en"), "next_step_message": next_step.render(locale),
            "warnings": warnings}  # fmt: skip


def _cancelled_step(batch_id: int, count: int) -> Message:
    """Return the next step for a batch's cancelled requests, which no endpoint runs again."""
    with db.session_scope() as session:
        command = resubmit_command(session, batch_id)
    return Message(
        N_("its {count} cancelled requests cannot run again; to generate their copy, submit the "
           "campaign file again as a new batch (with a new idempotency key, if you use one), or "
           "run: {command}; either makes every request of those campaigns again"),
        {"count": count, "command": command},
    )  # fmt: skip


def _next_step(dispatch: str, batch_id: int, cancelled: int = 0) -> Message:
    """Return what happens next to a submitted batch, given ``UploadResult.dispatch`` and
    the batch's number of cancelled requests."""
    if dispatch == "sent":
        return Message(N_("the workers are generating the drafts"))
    if dispatch == "queued":
        command = f"contentgen batch resume {batch_id} --wait"
        return Message(N_("no broker is configured; run the batch with: {command}"), {"command": command})
    if dispatch == "broker_down":
        command = f"contentgen batch resume {batch_id}"
        return Message(N_("the broker is unreachable; once it is up, run: {command}"), {"command": command})
    if dispatch == "finished" and cancelled:
        return Message(N_("nothing is left to run: the batch was cancelled, and {step}"),
                       {"step": _cancelled_step(batch_id, cancelled)})  # fmt: skip
    if dispatch == "finished":
        return Message(N_("nothing is left to run: every request of the batch has finished"))
    raise ValueError(f'dispatch "{dispatch}" is not one of: sent, queued, broker_down, finished')


def _warnings_json(batch: Batch, locale: str) -> list[dict[str, str]]:
    """Return the batch's stored import warnings, each in English (``detail``) and in
    ``locale`` (``message``)."""
    return [_warning_json(warning, locale) for warning in batch_warnings(batch)]


def _warning_json(warning: ClearedFields, locale: str) -> dict[str, str]:
    return {"kind": warning.kind, "key": warning.key, "detail": warning.message, "message": warning.text.render(locale)}


def _plan_json(plan: SubmissionPlan, locale: str) -> dict[str, Any]:
    if plan.matched_batch_id is None:
        next_step = Message(N_("nothing was written; send the file again without dry_run to create the batch"))
    else:
        next_step = Message(
            N_("nothing was written; the idempotency key made batch {batch} from the same content, so "
               "sending the file again without dry_run returns that batch and creates nothing"),
            {"batch": plan.matched_batch_id},
        )  # fmt: skip
    return {
        "dry_run": True,
        "written": False,
        "request_count": plan.request_count,
        "requests": [group.as_dict() for group in plan.requests],
        "matched_batch_id": plan.matched_batch_id,
        "warnings": [_warning_json(warning, locale) for warning in plan.warnings],
        "next_step": next_step.render("en"),
        "next_step_message": next_step.render(locale),
    }


@router.get("/batches/{batch_id}", summary="A batch's requests by state and drafts by status")
def get_batch_status(request: Request, batch_id: int, actor: Viewer) -> dict[str, Any]:
    """Return the batch's counts and the ``warnings`` of the import that created it, as
    ``POST /api/v1/batches`` returned them. Batches that no import created (scheduled ones,
    and those submitted before schema revision 0012) have none."""
    with db.session_scope() as session:
        progress = batch_progress(session, batch_id)
        return {**progress.as_dict(), "warnings": _warnings_json(progress.batch, request_locale(request))}


@router.post("/batches/{batch_id}/retry-failed", summary="Run a batch's failed requests again")
def post_retry_failed(request: Request, batch_id: int, actor: Submitter, _body: NoBody) -> dict[str, Any]:
    """Make the batch's failed requests pending again, with no attempts counted, and send
    them to the workers when a broker is configured. ``retried`` counts them, and
    ``dispatch`` gives where they stand as for ``POST /api/v1/batches`` (null when the batch
    had no failed requests). The batch's counts follow, as ``GET /api/v1/batches/ID`` gives
    them."""
    retried, dispatch = retry_failed(batch_id)
    logger.info("%s made %d failed requests of batch %d pending again", actor.username, retried, batch_id)
    with db.session_scope() as session:
        body = batch_progress(session, batch_id).as_dict()
    cancelled = body["requests"]["cancelled"]
    if dispatch is None and cancelled:
        next_step = Message(N_("the batch has no failed requests, so nothing runs again; {step}"),
                            {"step": _cancelled_step(batch_id, cancelled)})  # fmt: skip
    elif dispatch is None:
        next_step = Message(N_("the batch has no failed requests, so nothing runs again"))
    else:
        next_step = _next_step(dispatch, batch_id)
    return {**body, "retried": retried, "dispatch": dispatch, "next_step": next_step.render("en"),
            "next_step_message": next_step.render(request_locale(request))}  # fmt: skip


@router.post("/batches/{batch_id}/cancel", summary="Cancel a batch's pending requests")
def post_cancel(request: Request, batch_id: int, actor: Submitter, _body: NoBody) -> dict[str, Any]:
    """Cancel the requests of the batch that no worker has started. ``cancelled`` counts
    them; ``generating`` counts those that a worker is generating now (PostgreSQL only),
    which finish and keep their drafts. Cancelled requests cannot run again;
    ``next_step`` (in English) and ``next_step_message`` (in the caller's language) give the
    way to generate their copy. The batch's counts follow, as ``GET /api/v1/batches/ID`` gives
    them. While another cancel of the batch waits for a worker's chunk, the response is 409."""
    with db.session_scope() as session:
        cancellation = cancel_batch(session, batch_id, wait=False)
    logger.info("%s cancelled %d pending requests of batch %d", actor.username, cancellation.cancelled, batch_id)
    with db.session_scope() as session:
        body = batch_progress(session, batch_id).as_dict()
    cancelled = body["requests"]["cancelled"]
    if cancelled:
        next_step = Message(N_("the batch is cancelled; {step}"),
                            {"step": _cancelled_step(batch_id, cancelled)})  # fmt: skip
    else:
        next_step = Message(N_("no request of the batch was waiting to run, so nothing was cancelled"))
    return {**body, **cancellation._asdict(), "next_step": next_step.render("en"),
            "next_step_message": next_step.render(request_locale(request))}  # fmt: skip


# Problems that do not stop an export (a draft over its limit, an ad with too few headlines).
EXPORT_WARNINGS_HEADER = "X-Contentgen-Warnings"
EXPORT_WARNING_COUNT_HEADER = "X-Contentgen-Warning-Count"
# HTTP clients reject long headers: curl one over 100 KB (CURL_MAX_HTTP_HEADER in curl.h),
# Python's http.client a line over 64 KB (_MAXLINE). So the header lists the first warnings,
# and ``contentgen export`` prints them all.
MAX_HEADER_WARNINGS = 20


@router.get(
    "/batches/{batch_id}/export",
    summary="Export a batch's approved drafts",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def get_export(
    request: Request,
    batch_id: int,
    actor: Exporter,
    format: Annotated[str, Query(description=f"One of: {', '.join(FORMATS)}")] = "csv",
) -> Response:
    check_format(format)
    with db.session_scope() as session:
        exported = export_batch(session, batch_id, format)
    headers = {"Content-Disposition": f'attachment; filename="{exported.filename}"'}
    headers[EXPORT_WARNING_COUNT_HEADER] = str(len(exported.warnings))
    if exported.warnings:
        header = _warnings_header(exported.warnings, batch_id, format, request_locale(request))
        headers[EXPORT_WARNINGS_HEADER] = header
    return Response(exported.content, media_type=exported.media_type, headers=headers)


def _warnings_header(warnings: list[Message], batch_id: int, format: str, locale: str) -> str:
    """Return the first ``MAX_HEADER_WARNINGS`` warnings in ``locale`` as a JSON array, and
    after them how many more there are.

    Non-ASCII characters are escaped, since header values are Latin-1.
    """
    listed = [warning.render(locale) for warning in warnings[:MAX_HEADER_WARNINGS]]
    rest = len(warnings) - MAX_HEADER_WARNINGS
    if rest <= 0:
        return json.dumps(listed)
    command = f"contentgen export --batch {batch_id} --format {format}"
    if rest == 1:
        template = N_("1 more warning is not listed here; to see them all, run: {command}")
    else:
        template = N_("{count} more warnings are not listed here; to see them all, run: {command}")
    summary = Message(template, {"count": rest, "command": command})
    return json.dumps([*listed, summary.render(locale)])


# --- drafts and review -----------------------------------------------------------------


class DraftsQuery(QueueQuery):
    """The review queue's filter and page. An unknown parameter is rejected, because a
    misspelt filter would otherwise list every draft."""

    model_config = ConfigDict(extra="forbid")

    page: int = Field(1, ge=1)
    page_size: int = Field(PAGE_SIZE, ge=1, le=500)

    def to_filter(self) -> DraftFilter:
        return DraftFilter.from_params(**self.model_dump(exclude={"page", "page_size"}))


@router.get("/drafts", summary="The review queue: drafts filtered, sorted and paged")
def get_drafts(actor: Viewer, query: Annotated[DraftsQuery, Query()]) -> dict[str, Any]:
    """Return one page of the matching drafts with their ``total``. ``digest`` is the SHA-256
    of the ids and versions of every matching draft, on all pages: send it as
    ``expected_digest`` to act on this filter with ``POST /api/v1/drafts/bulk``."""
    draft_filter = query.to_filter()
    with db.session_scope() as session:
        result = queue_page(session, draft_filter, query.page, query.page_size, clamp=False)
    return {"total": result.total, "page": result.page, "pages": result.pages,
            "digest": result.digest, "items": result.items}  # fmt: skip


@router.get("/drafts/{draft_id}", summary="One draft with its prompt, provenance, checks and history")
def get_draft(request: Request, draft_id: int, actor: Viewer) -> dict[str, Any]:
    """Return one draft. Each check has its ``detail`` in English, for scripts, and as
    ``message`` in the caller's language (the user's setting, else Accept-Language)."""
    locale = request_locale(request)
    with db.session_scope() as session:
        details = draft_details(session, draft_id, messages=True)
        details["checks"] = [
            {**check, "message": check["detail"] if check["message"] is None else check["message"].render(locale)}
            for check in details["checks"]
        ]
        return {**details, "history": history(session, draft_id)}


def _decide(actor: Actor, draft_id: int, decision: Decision, version: int | None) -> dict[str, Any]:
    with db.session_scope() as session:
        decide(session, actor, draft_id, decision, expected_version=version)
    with db.session_scope() as session:
        return {**draft_details(session, draft_id), "history": history(session, draft_id)}


@router.post("/drafts/{draft_id}/approve", summary="Approve a draft")
def post_approve(draft_id: int, body: ApproveBody, actor: Reviewer) -> dict[str, Any]:
    return _decide(actor, draft_id, Decision("approve"), body.version)


@router.post("/drafts/{draft_id}/reject", summary="Reject a draft with a reason")
def post_reject(draft_id: int, body: RejectBody, actor: Reviewer) -> dict[str, Any]:
    return _decide(actor, draft_id, Decision("reject", note=body.reason), body.version)


@router.post("/drafts/{draft_id}/edit", summary="Replace a draft's text and approve it")
def post_edit(draft_id: int, body: EditBody, actor: Reviewer) -> dict[str, Any]:
    return _decide(actor, draft_id, Decision("edit", note=body.note, text=body.text), body.version)


@router.post("/drafts/bulk", summary="Approve or reject a selection, or everything matching a filter")
def post_bulk(request: Request, body: BulkBody, actor: Reviewer) -> dict[str, Any]:
    """Drafts whose status does not allow the action are counted in ``skipped`` by status.
    An approval leaves out drafts over their hard limit or with a banned term, and
    ``breaking_rules`` gives the reason for each, by draft id. A listed draft that you gave
    the same decision after the version you send (the request sent twice) is listed in
    ``already_ids`` and not changed again, and so are the drafts of a filter request that
    you sent before with the same ``expected_digest``."""
    if body.filter is not None and body.drafts:
        raise InvalidInput.from_template(
            N_("give either drafts or a filter, not both; nothing was changed")
        )
    if body.filter is not None and body.expected_count is None and body.expected_digest is None:
        # Without what the caller saw, a filter acts on whatever matches by now.
        raise InvalidInput.from_template(
            N_("a filter needs expected_digest, the digest that GET /api/v1/drafts returned "
               "for the same filter (or at least expected_count, its total); nothing was "
               "changed")
        )  # fmt: skip
    if body.filter is None and body.expected_digest is not None:
        raise InvalidInput.from_template(
            N_("expected_digest goes with a filter; for listed drafts, give each draft's "
               "version instead. Nothing was changed.")
        )  # fmt: skip
    decision = Decision(body.action, note=body.reason)
    selection = selected_versions((draft.id, draft.version) for draft in body.drafts)
    with db.session_scope() as session:
        result = decide_many(
            session, actor, decision,
            draft_ids=list(selection),
            versions={draft_id: version for draft_id, version in selection.items() if version is not None},
            draft_filter=body.filter.to_filter() if body.filter else None,
            expected_count=body.expected_count,
            expected_digest=body.expected_digest,
        )  # fmt: skip
    return result.as_dict(request_locale(request))


# --- users and templates (admin) -------------------------------------------------------


@router.get("/users", summary="List users")
def get_users(actor: Admin) -> list[dict[str, Any]]:
    with db.session_scope() as session:
        return [_user_json(user) for user in list_users(session)]


@router.post("/users", status_code=201, summary="Create a user")
def post_user(body: NewUser, actor: Admin) -> dict[str, Any]:
    role = parse_role(body.role)
    with db.session_scope() as session:
        return _user_json(create_user(session, body.username, body.password, role, body.locale))


@router.patch("/users/{username}", summary="Change a user's role or password, or disable or enable them")
def patch_user(username: str, body: UserChange, actor: Admin) -> dict[str, Any]:
    if body.role is None and body.active is None and body.password is None:
        with db.session_scope() as session:
            get_user(session, username)  # an unknown user is a 404 first
        # Without this, {} would get a 200 and the user's record, as if it had changed.
        raise InvalidInput.from_template(
            N_("the request body sets no field (null leaves a field as it is); send one or more of "
               "role (one of: {roles}), active (true or false) and password, e.g. {example}"),
            roles=", ".join(role.value for role in Role),
            example='{"active": false}',
        )  # fmt: skip
    role = parse_role(body.role) if body.role is not None else None
    with db.session_scope() as session:
        user = None
        if role is not None:
            user = set_role(session, username, role)
        if body.active is not None:
            user = set_active(session, username, body.active)
        if body.password is not None:
            user = set_password(session, username, body.password)
        if user is None:
            user = get_user(session, username)
        return _user_json(user)


@router.get("/users/{username}/tokens", summary="A user's API tokens by id, name and creation time")
def get_user_tokens(username: str, actor: Admin) -> list[dict[str, Any]]:
    with db.session_scope() as session:
        return [_token_json(token) for token in list_api_tokens(session, username)]


@router.delete("/users/{username}/tokens/{token_id}", summary="Revoke one of a user's API tokens")
def delete_user_token(username: str, token_id: int, actor: Admin, _body: NoBody) -> dict[str, Any]:
    """Revoke the token at once; the user's other tokens and page sessions keep working."""
    with db.session_scope() as session:
        return {**_token_json(revoke_api_token(session, username, token_id)), "revoked": True}


def _token_json(token: ApiToken) -> dict[str, Any]:
    return {"id": token.id, "name": token.name, "created_at": utc_iso(token.created_at)}


@router.get("/templates", summary="Every prompt template version")
def get_templates(actor: Admin) -> list[dict[str, Any]]:
    with db.session_scope() as session:
        return list_template_versions(session)


@router.post("/templates/sync", summary="Store changed shipped template files as new versions")
def post_templates_sync(actor: Admin, _body: NoBody) -> list[dict[str, Any]]:
    with db.session_scope() as session:
        results = sync_templates(session)
    return [{"name": result.name, "version": result.version, "changed": result.changed}
            for result in results]  # fmt: skip
