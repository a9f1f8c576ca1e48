"""The FastAPI application: review pages, the JSON API under /api/v1, and their errors.

Errors are turned into responses in one place. The API, and the page routes that return
JSON to the pages' scripts, return JSON ``{"detail": ...}`` with the status code; pages
render an error page, except that a missing or expired login redirects to the login page
(on the JSON page routes, it is a 401). Messages are in the reader's language.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import DatabaseError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from contentgen import __version__
from contentgen.campaigns import CampaignProblem, InvalidCampaignFile
from contentgen.errors import ContentgenError
from contentgen.i18n import N_, translations
from contentgen.settings import Settings, get_settings
from contentgen.web import admin_pages, api, pages, review_pages
from contentgen.web._auth import LoginRequired, identify_page_actor
from contentgen.web._body_limit import MAX_REQUEST_BYTES, RequestBodyLimit
from contentgen.web._errors import (
    status_code_of,
    validation_message,
    validation_problems,
    web_message,
)
from contentgen.web._form_encoding import PercentEncodeFormBody
from contentgen.web._head import HeadAsGet
from contentgen.web._headers import SecurityHeaders
from contentgen.web._login_limit import LoginThrottle
from contentgen.web._render import STATIC_DIR, create_templates, render, request_locale
from contentgen.web._sessions import SessionCookies

logger = logging.getLogger(__name__)

API_PREFIX = api.PREFIX

UNAVAILABLE_MESSAGE = N_(
    "The server cannot use its database or message broker right now; try again later. "
    "The server log says why."
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app with its session key, templates and routes."""
    settings = settings or get_settings()
    # FastAPIOffline serves Swagger UI's files from the package, so the explorer works on a
    # host without internet access and loads no third-party script into the admin site.
    app = FastAPIOffline(
        title="contentgen",
        version=__version__,
        description="Review generated marketing copy: batches, the review queue, drafts, "
        "review decisions and export of approved copy. Authenticate with a bearer token.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=f"{API_PREFIX}/docs/oauth2-redirect",
        static_url=f"{API_PREFIX}/docs/static",
    )
    app.state.cookies = SessionCookies(
        _secret_key(settings), settings.session_minutes * 60, settings.secure_cookies
    )
    app.state.session_minutes = settings.session_minutes
    app.state.login_throttle = LoginThrottle()
    app.state.templates = create_templates()

    # Inside the body limit, which therefore counts the bytes as sent.
    app.add_middleware(PercentEncodeFormBody)
    app.add_middleware(RequestBodyLimit, max_bytes=MAX_REQUEST_BYTES, api_prefix=API_PREFIX)
    # Added after the body limit, so it wraps it and also marks its 413 responses.
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.public_router, prefix=API_PREFIX)
    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(pages.router)
    app.include_router(review_pages.router)
    app.include_router(admin_pages.router)
    _add_error_handlers(app)
    return app


def _secret_key(settings: Settings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    logger.warning(
        "CONTENTGEN_SECRET_KEY is not set, so a random key signs the session cookies: "
        "logins end when the server restarts and are not shared between server processes"
    )
    return secrets.token_urlsafe(32)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX + "/") or request.url.path == API_PREFIX


def _responds_json(request: Request) -> bool:
    """Tell whether the request's errors are JSON: in the API, and on the pages' routes that
    return JSON."""
    route = request.scope.get("route")
    return _is_api(request) or getattr(route, "path", None) in pages.JSON_ROUTE_PATHS


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def on_login_required(request: Request, error: LoginRequired) -> Response:
        if _responds_json(request):
            # A page script sends this request, and a redirect would give it the login page
            # in place of JSON.
            gettext = translations(request_locale(request)).gettext
            detail = (gettext("Your session expired; log in again.") if error.expired
                      else gettext("You are not logged in; log in and reload the page."))  # fmt: skip
            return JSONResponse({"detail": detail}, status_code=401)
        query = {"next": _page_after_login(request)}
        if error.expired:
            query["expired"] = "1"
        return RedirectResponse(f"/login?{urlencode(query)}", status_code=303)

    @app.exception_handler(ContentgenError)
    async def on_error(request: Request, error: ContentgenError) -> Response:
        status_code = status_code_of(error)
        if status_code >= 500:
            # The reason names the database or broker (user, host, database name), which
            # is for the operator's log, not for every client.
            logger.error("%s %s failed: %s", request.method, request.url.path, error)
            return _unavailable(request, status_code)
        message = web_message(error, request_locale(request), api=_is_api(request))
        if _responds_json(request):
            body: dict[str, object] = {"detail": message}
            if isinstance(error, InvalidCampaignFile):
                locale = request_locale(request)
                body["problems"] = [problem_json(problem, locale) for problem in error.details]
            headers = {"WWW-Authenticate": "Bearer"} if status_code == 401 else None
            return JSONResponse(body, status_code=status_code, headers=headers)
        return render(request, "error.html", {"message": message, "status_code": status_code},
                      status_code=status_code)  # fmt: skip

    @app.exception_handler(DatabaseError)
    async def on_database_error(request: Request, error: DatabaseError) -> Response:
        # A database that went away mid-request, or a schema that a downgrade or a newer
        # version changed under the running server: the operator's log gets the reason.
        logger.error("%s %s failed in the database: %s", request.method, request.url.path, error)
        return _unavailable(request)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException) -> Response:
        # Starlette raises these for a path or method no route has; the app's own errors
        # are ContentgenError. The body limit's 413 keeps its message.
        path, method = request.url.path, request.method
        headers = dict(getattr(error, "headers", None) or {})
        if error.status_code == 405:
            # No route matches a path under a mount: the static files, which take GET.
            headers["Allow"] = ", ".join(_allowed_methods(request) or ["GET", "HEAD"])
        if _is_api(request):
            template = {
                404: N_("no API endpoint at {path}; see {docs}"),
                405: N_("{path} does not accept {method}; see {docs}"),
            }.get(error.status_code)
            detail = error.detail if template is None else translations(request_locale(request)).gettext(
                template
            ).format(path=path, method=method, docs=f"{API_PREFIX}/docs")
            return JSONResponse({"detail": detail}, status_code=error.status_code, headers=headers)
        # Routes that do not exist run no login dependency, so the user is looked up here.
        identify_page_actor(request)
        gettext = translations(request_locale(request)).gettext
        if error.status_code == 404:
            message = gettext("This page does not exist.")
        elif error.status_code == 405:
            message = gettext("This page does not accept {method} requests.").format(method=method)
        elif error.status_code == 400 and "exceeded maximum size" in str(error.detail):
            # Starlette's form parser takes at most 1 MiB per field ("Field exceeded maximum
            # size of 1024KB.").
            message = gettext("A form field is over 1 MiB, more than any field on these pages "
                              "takes; shorten it. Nothing was saved.")  # fmt: skip
        else:
            message = str(error.detail)
        response = render(request, "error.html", {"message": message, "status_code": error.status_code},
                          status_code=error.status_code)  # fmt: skip
        response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, error: RequestValidationError) -> Response:
        locale = request_locale(request)
        problems = validation_problems(error.errors(), api.OBJECT_EXAMPLES)
        message = validation_message(problems, locale)
        if _responds_json(request):
            errors = [problem.as_json(locale) for problem in problems]
            return JSONResponse({"detail": message, "errors": errors}, status_code=422)
        return render(request, "error.html", {"message": message, "status_code": 422},
                      status_code=422)  # fmt: skip


def _unavailable(request: Request, status_code: int = 503) -> Response:
    """Return the general message for a server-side failure; the caller logged the reason."""
    message = translations(request_locale(request)).gettext(UNAVAILABLE_MESSAGE)
    if _responds_json(request):
        return JSONResponse({"detail": message}, status_code=status_code)
    return render(request, "error.html", {"message": message, "status_code": status_code},
                  status_code=status_code)  # fmt: skip


def _page_after_login(request: Request) -> str:
    """Return the address that the login page sends the user to after logging in.

    A GET request comes back to its own address. After a POST, the user goes back to the
    page that the form was on. That is the Referer when the browser sent one from this site,
    else the nearest address at or above the form's that a GET route serves, with the same
    query (``/users`` for ``/users/mia/role``). A draft's form addresses, such as
    ``/drafts/2/edit?batch_id=1``, take GET and redirect to the draft page.
    """
    query = f"?{request.url.query}" if request.url.query else ""
    path = request.url.path
    if request.method in ("GET", "HEAD"):
        return path + query

    referer = urlsplit(request.headers.get("referer", ""))
    same_site = (referer.scheme, referer.netloc) == (request.url.scheme, request.url.netloc)
    if same_site and "GET" in _allowed_methods(request, referer.path):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    while path:
        if "GET" in _allowed_methods(request, path):
            return path + query
        path = path.rsplit("/", 1)[0]
    return "/"


def _allowed_methods(request: Request, path: str | None = None) -> list[str]:
    """Return the methods that some route takes at ``path`` (default: the request's path),
    for a 405's Allow.

    Starlette's own header names the methods of the first route with the path only, so a
    page with a GET route and a POST route would claim to accept GET alone.
    """
    scope = dict(request.scope) if path is None else {**request.scope, "path": path}
    methods = [
        method
        for method in ("DELETE", "GET", "PATCH", "POST", "PUT")
        if any(
            route.matches({**scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    if "GET" in methods:
        # HeadAsGet serves HEAD wherever GET works.
        methods.insert(methods.index("GET") + 1, "HEAD")
    return methods


def problem_json(problem: CampaignProblem, locale: str) -> dict[str, object]:
    field = problem.field
    if problem.keyless and problem.row is None and problem.key:
        # A YAML campaign or brand without a key is placed by its index in its list, as
        # "campaigns[1].channels[0]"; "#2" is the second.
        field = f"{problem.kind}s[{int(problem.key.lstrip('#')) - 1}].{field}"
    return {
        "kind": problem.kind,
        # A campaign or brand without a key is known by its row (CSV) or its place in the file.
        "key": None if problem.keyless else problem.key,
        "row": problem.row,
        "field": field,
        "detail": problem.message,
        "message": problem.text.render(locale),
    }
