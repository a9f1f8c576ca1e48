"""The review web app: server-rendered pages and the JSON API under /api/v1."""

from contentgen.web.app import create_app

__all__ = ["create_app"]
