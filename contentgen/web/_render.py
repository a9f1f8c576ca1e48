"""Rendering pages in the reader's language.

Page templates are rendered with autoescape on for every template (not only ``.html``), so
draft text, prompts and campaign values always reach the browser escaped. No template marks
them safe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from contentgen.i18n import DEFAULT_LOCALE, LOCALES, negotiate, translations

WEB_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"


def request_locale(request: Request) -> str:
    """Return the user's chosen language, else the best match for the browser's Accept-Language."""
    actor = getattr(request.state, "actor", None)
    if actor is not None and actor.locale in LOCALES:
        return actor.locale
    return negotiate(request.headers.get("accept-language"))


def _page_context(request: Request) -> dict[str, Any]:
    locale = request_locale(request)
    catalogue = translations(locale)
    page_session = getattr(request.state, "page_session", (None, None))[0]
    return {
        "_": catalogue.gettext,
        "gettext": catalogue.gettext,
        "ngettext": catalogue.ngettext,
        "locale": locale,
        "html_lang": locale if locale != DEFAULT_LOCALE else "en",
        "actor": getattr(request.state, "actor", None),
        "csrf_token": page_session.csrf_token if page_session else "",
    }


def utc_time(timestamp: str | None) -> Markup:
    """Render an ISO 8601 UTC timestamp as a ``<time>`` element whose text ends in "UTC".

    The page script rewrites the text in the reader's own time zone; without scripts the
    reader still sees which zone the time is in.
    """
    if not timestamp:
        return Markup("")
    text = f"{timestamp[:19].replace('T', ' ')} UTC"
    return Markup('<time datetime="{}">{}</time>').format(timestamp, text)


def create_templates() -> Jinja2Templates:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["utc_time"] = utc_time
    return Jinja2Templates(env=environment, context_processors=[_page_context])


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context or {}, status_code=status_code)
