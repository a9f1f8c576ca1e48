"""The review pages: server-rendered HTML forms, each POST protected by a CSRF token.

This module has the login, the settings and the batch pages; ``review_pages`` has the queue
and drafts, ``admin_pages`` the users and templates. After a successful POST the browser is
redirected (303) to a page that shows the outcome, so reloading never repeats an action. A
failed action renders its page again with the message and the status code (403, 404, 409 or
422), and changes nothing.
"""

from __future__ import annotations

import logging
import math
import unicodedata
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from contentgen import db
from contentgen.batches import (
    BatchProgress,
    batch_progress,
    cancel_batch,
    list_batches,
    resubmit_command,
)
from contentgen.campaigns import InvalidCampaignFile
from contentgen.channels import CHANNELS
from contentgen.cleared_fields import batch_warnings
from contentgen.dispatch import SubmissionPlan
from contentgen.drafts import queue_choices
from contentgen.errors import InvalidInput
from contentgen.export import FORMATS, check_format, export_batch
from contentgen.i18n import LOCALES, N_, translations
from contentgen.models import BatchStatus, DraftStatus
from contentgen.settings import get_settings
from contentgen.users import (
    MIN_PASSWORD_LENGTH,
    authenticate,
    end_page_sessions,
    set_locale,
    set_password,
)
from contentgen.web._pages import (
    CsrfChecked,
    Exporter,
    LoggedIn,
    Submitter,
    Viewer,
    check_query_names,
    message_of,
    notice_of,
    redirect_to,
    safe_next,
)
from contentgen.web._render import render, request_locale
from contentgen.web._sessions import PageSession
from contentgen.web._submit import display_name, dry_run_upload, retry_failed, submit_upload

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


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
        "next": safe_next(next),
        "error": gettext("Your session expired; log in again.") if expired == "1" else None,
        # "You are logged out" is true only for a visitor without a logged-in session.
        "notice": notice_of(request, "logged_out") if page_session.user_id is None else None,
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
    name = username.strip()
    address = request.client.host if request.client else "unknown"
    throttle = request.app.state.login_throttle
    catalogue = translations(request_locale(request))
    # The reservation comes before the password check, so parallel requests cannot all
    # start a check before the first failure is counted.
    wait = throttle.reserve(name, address)
    if wait:
        logger.warning("login for user %r from %s rejected: too many failed logins", name[:100], address)
        context = {"next": safe_next(next), "error": _too_many_failures(request, wait), "notice": None}
        response = render(request, "login.html", context, status_code=429)
        response.headers["Retry-After"] = str(wait)
        return response

    try:
        with db.session_scope() as session:
            user = authenticate(session, name, password)
            login = PageSession.for_user(user.id, user.session_version) if user else None
    except BaseException:
        throttle.release(name, address)
        raise
    if login is None:
        throttle.record_failure(name, address)
        logger.warning("failed login for user %r from %s", name[:100], address)
        context = {
            "next": safe_next(next),
            "error": catalogue.gettext("Wrong username or password, or the user is disabled."),
            "notice": None,
        }
        return render(request, "login.html", context, status_code=401)

    throttle.record_success(name, address)
    response = redirect_to(safe_next(next))
    request.app.state.cookies.write(response, login)
    return response


def _too_many_failures(request: Request, wait: int) -> str:
    """Return the message for a password check that the login throttle refused for ``wait`` seconds."""
    minutes = math.ceil(wait / 60)
    return translations(request_locale(request)).ngettext(
        "Too many failed logins. Try again in {minutes} minute.",
        "Too many failed logins. Try again in {minutes} minutes.",
        minutes,
    ).format(minutes=minutes)


@router.post("/logout")
def logout(request: Request, actor: LoggedIn, _csrf: CsrfChecked) -> Response:
    with db.session_scope() as session:
        end_page_sessions(session, actor.id)
    response = redirect_to("/login", notice="logged_out")
    request.app.state.cookies.clear(response)
    return response


@router.get("/")
def home(actor: Viewer) -> Response:
    return redirect_to("/batches")


# --- settings --------------------------------------------------------------------------


@router.get("/settings")
def settings_page(request: Request, actor: LoggedIn) -> Response:
    notice = notice_of(request, "settings_saved", "password_changed")
    return render(request, "settings.html", _settings_context(notice=notice))


@router.post("/settings/password")
def change_own_password(
    request: Request,
    actor: LoggedIn,
    _csrf: CsrfChecked,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    new_password_again: Annotated[str, Form()] = "",
) -> Response:
    """Change the logged-in user's password. Their other browsers must log in again, and
    this one gets a new session cookie so that it stays logged in."""
    gettext = translations(request_locale(request)).gettext
    # The same password typed in two forms of Unicode (see contentgen.users) is the same.
    if unicodedata.normalize("NFC", new_password) != unicodedata.normalize("NFC", new_password_again):
        logger.info("password change of user %s rejected: the two new passwords differ", actor.username)
        return _settings_error(request, gettext("The two new passwords differ; type the same new password twice. "
                                                "Nothing was changed."), 422)  # fmt: skip

    # A wrong current password counts as a failed login, so that a stolen session cannot
    # guess the password faster than the login page allows.
    address = request.client.host if request.client else "unknown"
    throttle = request.app.state.login_throttle
    wait = throttle.reserve(actor.username, address)
    if wait:
        logger.warning("password change of user %s from %s rejected: too many failed logins", actor.username, address)
        response = _settings_error(request, _too_many_failures(request, wait), 429)
        response.headers["Retry-After"] = str(wait)
        return response

    try:
        with db.session_scope() as session:
            user = authenticate(session, actor.username, current_password)
            if user is not None:
                user = set_password(session, actor.username, new_password)
                login = PageSession.for_user(user.id, user.session_version)
    except InvalidInput as error:
        throttle.release(actor.username, address)
        logger.info("password change of user %s rejected: %s", actor.username, error)
        return _settings_error(request, message_of(request, error), 422)
    except BaseException:
        throttle.release(actor.username, address)
        raise

    if user is None:
        throttle.record_failure(actor.username, address)
        logger.warning("user %s gave a wrong current password when changing it, from %s", actor.username, address)
        return _settings_error(request, gettext("The current password is wrong. Nothing was changed."), 403)

    throttle.record_success(actor.username, address)
    response = redirect_to("/settings", notice="password_changed")
    request.app.state.cookies.write(response, login)
    return response


def _settings_error(request: Request, message: str, status_code: int) -> Response:
    return render(request, "settings.html", _settings_context(error=message), status_code=status_code)


def _settings_context(notice: str | None = None, error: str | None = None) -> dict[str, Any]:
    return {"locales": LOCALES, "min_password_length": MIN_PASSWORD_LENGTH, "notice": notice, "error": error}


@router.post("/settings")
def save_settings(request: Request, actor: LoggedIn, _csrf: CsrfChecked,
                  locale: Annotated[str, Form()] = "") -> Response:
    with db.session_scope() as session:
        set_locale(session, actor.id, locale or None)
    return redirect_to("/settings", notice="settings_saved")


# --- batches ---------------------------------------------------------------------------


@router.get("/batches")
def batches_page(request: Request, actor: Viewer) -> Response:
    with db.session_scope() as session:
        batches = [progress.as_dict() for progress in list_batches(session, 100)]
    context = {"batches": batches, "statuses": list(DraftStatus), "notice": None,
               "status_labels": _batch_status_labels(request)}  # fmt: skip
    return render(request, "batches.html", context)


# Each batch status's label, for the pages' scripts; _macros.html's status_label has the same.
BATCH_STATUS_LABELS = {
    BatchStatus.PENDING: N_("Pending"),
    BatchStatus.RUNNING: N_("Running"),
    BatchStatus.COMPLETED: N_("Completed"),
    BatchStatus.CANCELLED: N_("Cancelled"),
}


def _batch_status_labels(request: Request) -> dict[str, str]:
    gettext = translations(request_locale(request)).gettext
    return {status.value: gettext(label) for status, label in BATCH_STATUS_LABELS.items()}


# The routes that the pages' scripts fetch JSON from. Their errors are JSON {"detail": ...}
# as in the API, with the pages' wording, rather than an error page.
JSON_ROUTE_PATHS = frozenset({"/batches/progress", "/batches/{batch_id}/progress"})


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
    request: Request,
    status_code: int,
    error: str | None = None,
    problems: list[dict] | None = None,
    plan: dict[str, Any] | None = None,
) -> Response:
    context = {
        "idempotency_key": uuid.uuid4().hex,
        "error": error,
        "problems": problems or [],
        "plan": plan,
        "channels": list(CHANNELS),
        "channel_labels": {key: channel.label for key, channel in CHANNELS.items()},
    }
    return render(request, "batch_new.html", context, status_code=status_code)


@router.post("/batches")
def submit_batch(
    request: Request,
    actor: Submitter,
    _csrf: CsrfChecked,
    file: Annotated[UploadFile | None, File()] = None,
    idempotency_key: Annotated[str, Form()] = "",
    dry_run: Annotated[bool, Form()] = False,
) -> Response:
    """Submit the uploaded file as a batch, or with ``dry_run`` (the "Check without
    submitting" button) show on the upload page what it would create, writing nothing."""
    try:
        if dry_run:
            plan = dry_run_upload(file, idempotency_key or None)
        else:
            result = submit_upload(file, idempotency_key or None)
    except InvalidCampaignFile as error:
        locale = request_locale(request)
        # The table below the message lists the problems, so the message does not repeat them.
        message = translations(locale).gettext(
            "The file has the problems listed below, so nothing was imported. Fix them and "
            "upload the file again."
        )
        return _render_upload(request, 422, message, _group_problems(error, locale))
    except InvalidInput as error:
        return _render_upload(request, 422, message_of(request, error))
    if dry_run:
        return _render_upload(request, 200, plan=_plan_context(plan, file, request_locale(request)))
    return redirect_to(f"/batches/{result.submission.batch_id}", dispatch=result.dispatch,
                     created=int(result.submission.created))  # fmt: skip


def _plan_context(plan: SubmissionPlan, upload: UploadFile | None, locale: str) -> dict[str, Any]:
    """Describe a dry run's plan for the upload page, with the warnings in ``locale``."""
    return {
        "file_name": display_name(upload.filename if upload and upload.filename else ""),
        "request_count": plan.request_count,
        "requests": [group.as_dict() for group in plan.requests],
        "matched_batch_id": plan.matched_batch_id,
        "warnings": [
            {"kind": warning.kind, "key": warning.key, "message": warning.text.render(locale)}
            for warning in plan.warnings
        ],
    }


def _group_problems(error: InvalidCampaignFile, locale: str) -> list[dict[str, Any]]:
    """Group a file's problems by campaign (or brand), in file order."""
    groups: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    for problem in error.details:
        # By row too: a CSV row that repeats an earlier row's key is a group of its own.
        group = groups.setdefault(
            (problem.kind, problem.key, problem.row),
            {"kind": problem.kind, "key": problem.key, "keyless": problem.keyless, "row": problem.row,
             "place": problem.key.lstrip("#") if problem.keyless and problem.key else None, "fields": []},
        )
        group["fields"].append({"field": problem.field, "message": problem.text.render(locale)})
    return list(groups.values())


def _run_hint(progress: BatchProgress) -> str | None:
    """Return why nothing runs the batch's pending requests: "no_broker" (none is configured,
    so only ``contentgen batch resume ID --wait`` runs them) or "not_sent" (no chunk of the
    batch was ever sent to the workers). Return None when neither applies."""
    if not progress.requests["pending"]:
        return None
    if not get_settings().broker_url:
        return "no_broker"
    # NOTE: batches created before the database recorded sends (schema 0011) count as never
    # sent, and the hint's command sends their pending requests again, which does no harm.
    if progress.batch.sent_at is None:
        return "not_sent"
    return None


@router.get("/batches/{batch_id}/progress")
def one_batch_progress(batch_id: int, actor: Viewer) -> Response:
    """Counts for a batch's own page, which fetches them every few seconds while work runs,
    with the hint that the page shows when nothing runs the batch."""
    with db.session_scope() as session:
        progress = batch_progress(session, batch_id)
        body = {**progress.as_dict(), "run_hint": _run_hint(progress)}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/batches/{batch_id}")
def batch_page(
    request: Request,
    batch_id: int,
    actor: Viewer,
    dispatch: str | None = None,
    created: int | None = None,
) -> Response:
    locale = request_locale(request)
    with db.session_scope() as session:
        batch = batch_progress(session, batch_id)
        progress = batch.as_dict()
        run_hint = _run_hint(batch)
        choices = queue_choices(session, batch_id)
        resubmit = resubmit_command(session, batch_id) if batch.requests["cancelled"] else None
        import_warnings = [
            {"kind": warning.kind, "key": warning.key, "message": warning.text.render(locale)}
            for warning in batch_warnings(batch.batch)
        ]
    context = {
        "batch": progress,
        "notice": notice_of(request, "failed_retried", "retry_pending", "batch_cancelled"),
        "import_warnings": import_warnings,
        "run_hint": run_hint,
        "statuses": list(DraftStatus),
        "dispatch": dispatch if dispatch in ("sent", "queued", "broker_down", "finished") else None,
        "created": created,
        "formats": FORMATS,
        "campaigns": choices["campaigns"],
        "resubmit_command": resubmit,
        "status_labels": _batch_status_labels(request),
    }
    return render(request, "batch.html", context)


@router.post("/batches/{batch_id}/retry-failed")
def retry_failed_requests(batch_id: int, actor: Submitter, _csrf: CsrfChecked) -> Response:
    """Run the batch's failed requests again (see ``retry_failed``) and show its page."""
    # When the broker is unreachable, the requests stay pending, and the sweeper that beat
    # runs every minute sends them once it is back.
    retried, _ = retry_failed(batch_id)
    logger.info("%s made %d failed requests of batch %d pending again", actor.username, retried, batch_id)
    if not retried:
        with db.session_scope() as session:
            pending = batch_progress(session, batch_id).requests["pending"]
        if pending:
            # The form was sent twice, or someone else retried first, so the requests that
            # failed are already waiting for the workers.
            return redirect_to(f"/batches/{batch_id}", notice="retry_pending")
    return redirect_to(f"/batches/{batch_id}", notice="failed_retried", changed=retried)


@router.post("/batches/{batch_id}/cancel")
def cancel_pending_requests(batch_id: int, actor: Submitter, _csrf: CsrfChecked) -> Response:
    """Cancel the batch's requests that no worker has started, and show its page. A chunk
    that a worker is generating is not waited for: it finishes and keeps its drafts."""
    with db.session_scope() as session:
        cancelled, generating = cancel_batch(session, batch_id, wait=False)
    logger.info("%s cancelled %d pending requests of batch %d", actor.username, cancelled, batch_id)
    return redirect_to(f"/batches/{batch_id}", notice="batch_cancelled", changed=cancelled, skipped=generating)


# The warnings page lists at most this many; the CLI prints them all.
SHOWN_EXPORT_WARNINGS = 100
# The query parameters of the export page.
EXPORT_PARAMETERS = ("format", "warnings")


@router.get("/batches/{batch_id}/export")
def export_page(
    request: Request,
    batch_id: int,
    actor: Exporter,
    format: str = "csv",
    warnings: Literal["accepted"] | None = None,
) -> Response:
    """Download the export, or, when it has warnings that were not accepted yet, a page that
    lists them with a link to download it anyway."""
    check_query_names(
        request,
        EXPORT_PARAMETERS,
        N_("This address has parameters that the export does not take: {names}; it takes "
           "{parameters}. Correct or remove them."),
        parameters=", ".join(EXPORT_PARAMETERS),
    )  # fmt: skip
    check_format(format)
    with db.session_scope() as session:
        exported = export_batch(session, batch_id, format)
    if exported.warnings and warnings is None:
        context = {
            "batch_id": batch_id,
            "format": format,
            "warnings": exported.warnings[:SHOWN_EXPORT_WARNINGS],
            "warning_count": len(exported.warnings),
            "approved_count": exported.approved_count,
        }
        return render(request, "export_warnings.html", context)
    return Response(
        exported.content,
        media_type=exported.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )
