"""Locate the folders shipped beside the package: prompt templates and migrations.

In a checkout (and an editable install) they sit at the top of the repository; a wheel
carries copies under ``contentgen/_shipped/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped(name: str) -> Path:
    for candidate in (_PACKAGE_DIR.parent / name, _PACKAGE_DIR / "_shipped" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the {name}/ folder is missing from this installation of contentgen")


def templates_dir() -> Path:
    return _shipped("templates")


def migrations_dir() -> Path:
    return _shipped("migrations")
