"""The known name closest to a misspelt one, for the "did you mean" part of error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    """Return the known name closest to ``name``, or None when none is close."""
    # A ratio of 0.7 takes typos (varients, chanels, prodcut: 0.86 and more) and leaves
    # unrelated names (colour and locale: 0.33).
    close = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=0.7)
    return close[0] if close else None
