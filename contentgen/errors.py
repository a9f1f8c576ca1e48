"""The exceptions contentgen raises, and the command line's exit codes.

``InvalidInput`` is the user's to fix (the CLI exits with 2), except ``NotSetUp``, a setup
step not yet run (exit 1). ``InfrastructureError`` means a server or file the user pointed
at is not usable (exit 1); retrying later may succeed.
"""

from __future__ import annotations

# Exit codes of the ``contentgen`` command line, as README.md lists them.
EXIT_FAILURE = 1
EXIT_INVALID_INPUT = 2
# A command that waited for a batch saw it finish with one or more failed requests.
EXIT_REQUESTS_FAILED = 3
# A command that waited for a batch to finish saw it cancelled instead, with no failed request.
EXIT_BATCH_CANCELLED = 4
# The shell's exit code for a command stopped with Ctrl+C (128 + SIGINT).
EXIT_INTERRUPTED = 130


class ContentgenError(Exception):
    """Base class of every error contentgen raises on purpose.

    An error built with ``from_template`` also keeps its untranslated message template and
    fields, so that the web app can show the message in the reader's language.
    """

    template: str | None = None
    params: dict[str, object] | None = None

    @classmethod
    def from_template(cls, template: str, **params: object):
        """Build the error from a message template with ``{name}`` fields (marked with ``N_``)."""
        error = cls(template.format(**params))
        error.template = template
        error.params = params
        return error


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


class NotSetUp(InvalidInput):
    """A setup step that the operator has not run, such as ``templates sync``. The message
    names the command, and nothing was written.

    The command line exits with 1 for it, as for other setup and infrastructure problems.
    Everywhere else it acts as an ``InvalidInput``, so the API responds with 422 and shows
    the message, and a schedule slot that needs the step is recorded as failed.
    """


class InfrastructureError(ContentgenError):
    """A database, broker or model that contentgen needs is unreachable or unusable."""


class NotFound(InvalidInput):
    """A batch, campaign, draft or user that does not exist."""


class Conflict(InvalidInput):
    """An action that does not fit the record's current state; nothing was written.

    Examples: approving a rejected draft, or saving over a change another reviewer made first.
    """


class PermissionDenied(InvalidInput):
    """The user's role does not allow the action, or the user is disabled."""


# An error message quotes at most this many characters of a value that the user sent, so
# that a megabyte-long parameter does not come back in full.
SHOWN_VALUE_LENGTH = 50


def shorten(value: object, limit: int = SHOWN_VALUE_LENGTH) -> str:
    """Return ``value`` as text to quote in an error message: the whole text if it has at
    most ``limit`` characters, else its first ``limit - 1`` characters and "…"."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# A logged or stored error message keeps at most this many characters of its first line.
DESCRIBED_ERROR_LENGTH = 500


def describe_error(error: BaseException) -> str:
    """Return "Type: message" for ``error``: the first line only, at most 500 characters."""
    lines = f"{type(error).__name__}: {error}".strip().splitlines()
    return lines[0][:DESCRIBED_ERROR_LENGTH]
