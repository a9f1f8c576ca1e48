"""The exceptions contentgen raises.

``InvalidInput`` is the user's to fix (the CLI exits with 2). ``InfrastructureError`` means a
server or file the user pointed at is not usable (exit 1); retrying later may succeed.
"""

from __future__ import annotations


class ContentgenError(Exception):
    """Base class of every error contentgen raises on purpose."""


class InvalidInput(ContentgenError):
    """Input that cannot be used as given; nothing was written.

    Args:
        message: what is wrong and how to fix it.
        problems: one line per problem when the input had several.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return self.args[0]
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        return f"{self.args[0]}\n{lines}"


class InfrastructureError(ContentgenError):
    """A database, broker or model that contentgen needs is unreachable or unusable."""


class NotFound(InvalidInput):
    """A batch, campaign or draft id that does not exist."""
