"""The review pages: server-rendered HTML forms, each POST protected by a CSRF token.

After a successful POST the browser is redirected (303) to a page that shows the outcome,
so reloading never repeats an action. A failed action renders its page again with the
message and the status code (403, 404, 409 or 422), and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response

from contentgen import db
from contentgen.batches import batch_progress, list_batches
from contentgen.campaigns import InvalidCampaignFile
from contentgen.channels import CHANNELS
from contentgen.drafts import (
    QUEUE_STATUSES,
    SORTS,
    DraftFilter,
    check_names,
    draft_details,
    queue_choices,
    queue_page,
    queue_position,
)
from contentgen.errors import ContentgenError, InvalidInput
from contentgen.export import FORMATS, check_format, export_batch
from contentgen.i18n import LOCALES, N_, translate_error, translations
from contentgen.models import DraftStatus
from contentgen.review import Decision, decide, decide_many, history
from contentgen.templates import list_template_versions, sync_templates
from contentgen.users import (
    Actor,
    Permission,
    Role,
    authenticate,
    create_user,
    list_users,
    parse_role,
    set_active,
    set_locale,
    set_role,
)
from contentgen.web._auth import check_csrf, current_page_actor, page_actor
from contentgen.web._errors import status_code_of
from contentgen.web._render import render, request_locale
from contentgen.web._sessions import PageSession
from contentgen.web._submit import submit_upload

router = APIRouter(include_in_schema=False)

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
    "bulk": N_("{changed} drafts changed; {skipped} skipped because their status does not allow the action."),
    "queue_clear": N_("The queue is clear: no more drafts match this filter."),
    "user_created": N_("User {user} created."),
    "role_changed": N_("User {user} now has the role {role}."),
    "user_disabled": N_("User {user} is disabled."),
    "user_enabled": N_("User {user} is enabled."),
    "templates_synced": N_("Templates synced: {changed} new versions."),
    "settings_saved": N_("Settings saved."),
    "logged_out": N_("You are logged out."),
}


def _notice(request: Request) -> str | None:
    template = NOTICES.get(request.query_params.get("notice", ""))
    if template is None:
        return None
    fields = {name: request.query_params.get(name, "") for name in ("draft", "changed", "skipped", "user", "role")}
    fields = {name: value if len(value) <= 100 else value[:100] for name, value in fields.items()}
    return translations(request_locale(request)).gettext(template).format(**fields)


def _redirect(path: str, **query: Any) -> RedirectResponse:
    query = {name: value for name, value in query.items() if value not in (None, "")}
    return RedirectResponse(f"{path}?{urlencode(query)}" if query else path, status_code=303)


def _message(request: Request, error: ContentgenError) -> str:
    return translate_error(error, request_locale(request))


def _safe_next(target: str | None) -> str:
    # Only paths on this site: "//host" and "https://host" would send the user elsewhere.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/batches"


# --- login -----------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = "/batches", expired: str | None = None) -> Response:
    cookies = request.app.state.cookies
    page_session, _ = cookies.read(request)
    if page_session is None:
        page_session = PageSession.anonymous()
        request.state.page_session = (page_session, None)
    gettext = translations(request_locale(request)).gettext
    context = {
        "next": _safe_next(next),
        "error": gettext("Your session expired; log in again.") if expired else None,
        "notice": _notice(request),
    }
    response = render(request, "login.html", context)
    cookies.write(response, page_session)
    return response


@router.post("/login")
def login(
    request: Request,
    _csrf: CsrfChecked,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/batches",
) -> Response:
    with db.session_scope() as session:
        user = authenticate(session, username.strip(), password)
        user_id = user.id if user else None
    if user_id is None:
        gettext = translations(request_locale(request)).gettext
        context = {
            "next": _safe_next(next),
            "error": gettext("Wrong username or password, or the user is disabled."),
            "notice": None,
        }
        return render(request, "login.html", context, status_code=401)

    response = _redirect(_safe_next(next))
    request.app.state.cookies.write(response, PageSession.for_user(user_id))
    return response


@router.post("/logout")
def logout(request: Request, actor: LoggedIn, _csrf: CsrfChecked) -> Response:
    response = _redirect("/login", notice="logged_out")
    request.app.state.cookies.clear(response)
    return response


@router.get("/")
def home(actor: Viewer) -> Response:
    return _redirect("/batches")


# --- settings --------------------------------------------------------------------------


@router.get("/settings")
def settings_page(request: Request, actor: LoggedIn) -> Response:
    return render(request, "settings.html", {"locales": LOCALES, "notice": _notice(request), "error": None})


@router.post("/settings")
def save_settings(request: Request, actor: LoggedIn, _csrf: CsrfChecked,
                  locale: Annotated[str, Form()] = "") -> Response:
    with db.session_scope() as session:
        set_locale(session, actor.id, locale or None)
    return _redirect("/settings", notice="settings_saved")


# --- batches ---------------------------------------------------------------------------


@router.get("/batches")
def batches_page(request: Request, actor: Viewer) -> Response:
    with db.session_scope() as session:
        batches = [progress.as_dict() for progress in list_batches(session, 100)]
    context = {"batches": batches, "statuses": list(DraftStatus), "notice": _notice(request),
               "status_labels": _batch_status_labels(request)}  # fmt: skip
    return render(request, "batches.html", context)


def _batch_status_labels(request: Request) -> dict[str, str]:
    gettext = translations(request_locale(request)).gettext
    return {"pending": gettext("Pending"), "running": gettext("Running"), "completed": gettext("Completed")}


@router.get("/batches/progress")
def batches_progress(actor: Viewer, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:
    """Counts for the batches page, which fetches them every few seconds while work runs."""
    with db.session_scope() as session:
        batches = [progress.as_dict() for progress in list_batches(session, limit)]
    return JSONResponse(batches, headers={"Cache-Control": "no-store"})


@router.get("/batches/new")
def new_batch_page(request: Request, actor: Submitter) -> Response:
    return _render_upload(request, status_code=200)


def _render_upload(
    request: Request, status_code: int, error: str | None = None, problems: list[dict] | None = None
) -> Response:
    context = {
        "idempotency_key": uuid.uuid4().hex,
        "error": error,
        "problems": problems or [],
        "channels": list(CHANNELS),
    }
    return render(request, "batch_new.html", context, status_code=status_code)


@router.post("/batches")
def submit_batch(
    request: Request,
    actor: Submitter,
    _csrf: CsrfChecked,
    file: Annotated[UploadFile | None, File()] = None,
    idempotency_key: Annotated[str, Form()] = "",
) -> Response:
    try:
        result = submit_upload(file, idempotency_key)
    except InvalidCampaignFile as error:
        return _render_upload(request, 422, _message(request, error), _group_problems(error))
    except InvalidInput as error:
        return _render_upload(request, 422, _message(request, error))
    return _redirect(f"/batches/{result.submission.batch_id}", dispatch=result.dispatch,
                     created=int(result.submission.created))  # fmt: skip


def _group_problems(error: InvalidCampaignFile) -> list[dict[str, Any]]:
    """Group a file's problems by campaign (or brand), in file order."""
    groups: dict[tuple[Any, Any], dict[str, Any]] = {}
    for problem in error.details:
        group = groups.setdefault(
            (problem.kind, problem.key),
            {"kind": problem.kind, "key": problem.key, "row": problem.row, "fields": []},
        )
        group["fields"].append({"field": problem.field, "message": problem.message})
    return list(groups.values())


@router.get("/batches/{batch_id}")
def batch_page(
    request: Request,
    batch_id: int,
    actor: Viewer,
    dispatch: str | None = None,
    created: int | None = None,
) -> Response:
    with db.session_scope() as session:
        progress = batch_progress(session, batch_id).as_dict()
        choices = queue_choices(session, batch_id)
    context = {
        "batch": progress,
        "statuses": list(DraftStatus),
        "dispatch": dispatch if dispatch in ("sent", "queued", "broker_down") else None,
        "created": created,
        "formats": FORMATS,
        "campaigns": choices["campaigns"],
        "status_labels": _batch_status_labels(request),
    }
    return render(request, "batch.html", context)


@router.get("/batches/{batch_id}/export")
def export_page(batch_id: int, actor: Exporter, format: str = "csv") -> Response:
    check_format(format)
    with db.session_scope() as session:
        exported = export_batch(session, batch_id, format)
    return Response(
        exported.content,
        media_type=exported.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )


# --- the review queue ------------------------------------------------------------------


def queue_filter(
    # A string: the filter form sends "batch_id=" for "any batch".
    batch_id: str | None = None,
    campaign: str | None = None,
    channel: str | None = None,
    segment: str | None = None,
    status: str | None = None,
    check: str | None = None,
    sort: str | None = None,
) -> DraftFilter:
    """Build the queue's filter from the query string, for the queue and draft pages."""
    return DraftFilter.from_params(batch_id=batch_id, campaign=campaign, channel=channel,
                                   segment=segment, status=status, check=check, sort=sort)  # fmt: skip


Filter = Annotated[DraftFilter, Depends(queue_filter)]


def _queue_context(request: Request, draft_filter: DraftFilter, page: int) -> dict[str, Any]:
    with db.session_scope() as session:
        result = queue_page(session, draft_filter, page)
        choices = queue_choices(session)
        checks = check_names(session)
    return {
        "filter": draft_filter,
        "filter_query": urlencode(draft_filter.as_params()),
        "result": result,
        "campaigns": choices["campaigns"],
        "segments": choices["segments"],
        "channels": list(CHANNELS),
        "statuses": QUEUE_STATUSES,
        "sorts": SORTS,
        "checks": checks,
        "notice": _notice(request),
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
) -> Response:
    """Apply ``op`` ("approve:selected", "reject:filter", ...) to the checked drafts, or to
    every draft matching the queue's filter on every page."""
    action, _, scope = op.partition(":")
    try:
        decision = Decision(action, note=reason)
        selection = _parse_selection(draft or [])
        with db.session_scope() as session:
            result = decide_many(
                session, actor, decision,
                draft_ids=list(selection),
                versions=selection,
                draft_filter=draft_filter if scope == "filter" else None,
                expected_count=expected_count if scope == "filter" else None,
            )  # fmt: skip
    except ContentgenError as error:
        context = _queue_context(request, draft_filter, 1)
        context["error"] = _message(request, error)
        return render(request, "queue.html", context, status_code=status_code_of(error))
    return _redirect("/queue", **draft_filter.as_params(), notice="bulk",
                     changed=len(result.changed), skipped=sum(result.skipped.values()))  # fmt: skip


def _parse_selection(values: list[str]) -> dict[int, int]:
    """Parse checkbox values "ID:VERSION" into {id: version}."""
    selection = {}
    for value in values:
        draft_id, _, version = value.partition(":")
        if not draft_id.isdigit() or not version.isdigit():
            raise InvalidInput.from_template(
                N_('selected draft "{value}" is not valid; reload the queue and select again'),
                value=value[:50],
            )
        selection[int(draft_id)] = int(version)
    return selection


# --- one draft -------------------------------------------------------------------------


def _draft_context(request: Request, draft_id: int, draft_filter: DraftFilter) -> dict[str, Any]:
    with db.session_scope() as session:
        details = draft_details(session, draft_id)
        events = history(session, draft_id)
        position = queue_position(session, draft_filter, draft_id)
    return {
        "draft": details,
        "events": events,
        "position": position,
        "filter": draft_filter,
        "filter_query": urlencode(draft_filter.as_params()),
        "channel": CHANNELS[details["channel"]],
        "notice": _notice(request),
        "error": None,
        "edit_text": details["text"],
        "reason": "",
    }


@router.get("/drafts/{draft_id}")
def draft_page(request: Request, draft_id: int, actor: Viewer, draft_filter: Filter) -> Response:
    return render(request, "draft.html", _draft_context(request, draft_id, draft_filter))


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
            decide(session, actor, draft_id, decision, expected_version=version)
        with db.session_scope() as session:
            position = queue_position(session, draft_filter, draft_id)
    except ContentgenError as error:
        with db.session_scope() as session:
            draft_details(session, draft_id)  # an unknown draft is a 404, not a form error
        context = _draft_context(request, draft_id, draft_filter)
        context["error"] = _message(request, error)
        context["reason"] = reason
        if edit_text is not None:
            context["edit_text"] = edit_text
        return render(request, "draft.html", context, status_code=status_code_of(error))

    if position.next_id is None:
        return _redirect("/queue", **draft_filter.as_params(), notice="queue_clear")
    return _redirect(f"/drafts/{position.next_id}", **draft_filter.as_params(), notice=notice,
                     draft=draft_id)  # fmt: skip


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


# --- users and templates (admin) -------------------------------------------------------


def _users_context(request: Request) -> dict[str, Any]:
    with db.session_scope() as session:
        users = [
            {"username": user.username, "role": user.role, "active": user.is_active,
             "locale": user.locale, "created_at": user.created_at}
            for user in list_users(session)
        ]  # fmt: skip
    return {"users": users, "roles": [role.value for role in Role], "locales": LOCALES,
            "notice": _notice(request), "error": None}  # fmt: skip


def _users_error(request: Request, error: ContentgenError) -> Response:
    context = _users_context(request)
    context["error"] = _message(request, error)
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
    return _redirect("/users", notice="user_created", user=username.strip())


@router.post("/users/{username}/role")
def change_role(request: Request, username: str, actor: Admin, _csrf: CsrfChecked,
                role: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    try:
        with db.session_scope() as session:
            set_role(session, username, parse_role(role))
    except ContentgenError as error:
        return _users_error(request, error)
    return _redirect("/users", notice="role_changed", user=username, role=role)


@router.post("/users/{username}/active")
def change_active(request: Request, username: str, actor: Admin, _csrf: CsrfChecked,
                  active: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    enable = active == "1"
    try:
        with db.session_scope() as session:
            set_active(session, username, enable)
    except ContentgenError as error:
        return _users_error(request, error)
    return _redirect("/users", notice="user_enabled" if enable else "user_disabled", user=username)


@router.get("/templates")
def templates_page(request: Request, actor: Admin) -> Response:
    with db.session_scope() as session:
        versions = list_template_versions(session)
    return render(request, "prompt_templates.html", {"versions": versions, "notice": _notice(request)})


@router.post("/templates/sync")
def sync_page(request: Request, actor: Admin, _csrf: CsrfChecked) -> Response:
    with db.session_scope() as session:
        results = sync_templates(session)
    changed = sum(result.changed for result in results)
    return _redirect("/templates", notice="templates_synced", changed=changed)
