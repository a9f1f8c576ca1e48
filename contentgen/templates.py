"""Prompt templates: syncing ``*.j2`` files into versioned rows, and rendering them.

Templates and campaign values are both user input. Templates are compiled in Jinja's
immutable sandbox with ``StrictUndefined``, so a misspelt variable is an error instead of an
empty string and no template can change the values it is given. Campaign values are passed only as context data, so ``{{ 7*7 }}`` in a product name
reaches the prompt as those seven characters and is never evaluated.
"""

from __future__ import annotations

import hashlib
import io
import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SecurityError
from jinja2.utils import missing
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contentgen.channels import CHANNELS
from contentgen.checks import control_character
from contentgen.errors import InvalidInput
from contentgen.i18n import N_, Message, MessageLines
from contentgen.models import PromptTemplate, utc_iso
from contentgen.resources import templates_dir
from contentgen.template_sandbox import (
    LimitedSandboxedEnvironment,
    RenderLimitExceeded,
    render_limited,
)

logger = logging.getLogger(__name__)


class ContextValue(dict):
    """A mapping in the template context that carries its own dotted name.

    Jinja looks attributes of a dict up as keys, so templates write ``product.name``; the
    path lets an undefined-variable error say ``product.tagline`` instead of
    ``'dict object' has no attribute 'tagline'``.
    """

    def __init__(self, path: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.path = path


class _UndefinedVariable(UndefinedError):
    """A variable that the context lacks, with the translatable message to show for it."""

    def __init__(self, reason: Message) -> None:
        super().__init__(str(reason))
        self.reason = reason


class _NamedStrictUndefined(StrictUndefined):
    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any):
        if isinstance(self._undefined_obj, ContextValue) and self._undefined_hint is None:
            value = self._undefined_obj
            raise _UndefinedVariable(
                Message(
                    N_('template variable "{variable}" is not defined ({value} has: {names})'),
                    {"variable": f"{value.path}.{self._undefined_name}", "value": value.path,
                     "names": ", ".join(value)},
                )  # fmt: skip
            )
        if self._undefined_hint is None and self._undefined_obj is missing and self._undefined_name is not None:
            raise _UndefinedVariable(
                Message(N_('template variable "{variable}" is not defined'), {"variable": self._undefined_name})
            )
        # Jinja's own message names the value: "'None' has no attribute 'upper'" or "list
        # object has no element 0".
        return super()._fail_with_undefined_error(*args, **kwargs)

    __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = __contains__ = (
        _fail_with_undefined_error
    )


def create_environment() -> LimitedSandboxedEnvironment:
    """Create the sandboxed Jinja environment every prompt template is compiled in.

    The immutable sandbox also rejects methods that change a list or dict, such as
    ``append`` or ``update``, so a template cannot alter the values it is given.
    ``contentgen.template_sandbox`` adds limits on the time and memory of a render.
    """
    return LimitedSandboxedEnvironment(
        undefined=_NamedStrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


_environment = create_environment()


@dataclass(frozen=True)
class SyncResult:
    name: str
    version: int
    changed: bool


# The shipped templates have under 2 KiB each.
MAX_TEMPLATE_SIZE = 64 * 1024


def sync_templates(session: Session, folder: Path | None = None) -> list[SyncResult]:
    """Store every ``*.j2`` file in ``folder`` as a new template version if its text changed.

    Each file must be named after a channel (``<channel key>.j2``), have at most
    ``MAX_TEMPLATE_SIZE`` bytes of UTF-8 text without control characters, and render for
    its channel with sample campaigns (see ``_trial_render_problems``), before anything is
    stored.

    Args:
        session: an open session; the caller commits.
        folder: where the files are; defaults to the templates shipped with contentgen.

    Returns:
        One result per file, in name order.

    Raises:
        InvalidInput: if the folder has no templates, or a file breaks a rule above. The
            error lists every problem, and nothing is stored then.
    """
    folder = folder or templates_dir()
    if not folder.is_dir():
        raise InvalidInput(
            f'template folder "{folder}" does not exist or is not a folder; pass a folder of '
            "*.j2 files with --dir"
        )
    files = sorted(folder.glob("*.j2"))
    if not files:
        raise InvalidInput(
            f'no prompt templates (*.j2 files) found in "{folder}"; '
            "pass a folder that contains them with --dir"
        )

    sources = {}
    # A file that no channel uses would be stored as a version that no batch ever renders.
    known = sorted(channel.template_name for channel in CHANNELS.values())
    problems = [
        Message(
            N_("{path}: no channel uses this template; rename it to the template of a channel "
               "({names}) or remove it"),
            {"path": str(path), "names": ", ".join(known)},
        )  # fmt: skip
        for path in files
        if path.name not in known
    ]
    for path in files:
        source, problem = _read_template(path)
        if problem is not None:
            problems.append(problem)
        else:
            sources[path.name] = source
    channels = {channel.template_name: key for key, channel in CHANNELS.items()}
    for name, source in sources.items():
        if name in channels:
            problems += _trial_render_problems(folder / name, source, channels[name])
    if problems:
        raise InvalidInput.from_template(
            N_("prompt templates are invalid; nothing was synced:\n{problems}"), problems=MessageLines(tuple(problems))
        )

    return [_store_version(session, name, source) for name, source in sources.items()]


def _read_template(path: Path) -> tuple[str, None] | tuple[None, Message]:
    """Read a template file, or return the problem that keeps it from being stored."""
    with path.open("rb") as file:
        # Read no more than the limit allows, whatever the file's size.
        data = file.read(MAX_TEMPLATE_SIZE + 1)
    if len(data) > MAX_TEMPLATE_SIZE:
        return None, Message(
            N_("{path}: the file has more than {limit} bytes, the maximum for a prompt template; "
               "shorten it"),
            {"path": str(path), "limit": f"{MAX_TEMPLATE_SIZE:,}"},
        )  # fmt: skip
    try:
        # utf-8-sig drops the byte order mark that some Windows editors write, which would
        # otherwise start every prompt. Reading as text turns CRLF and CR line ends into LF,
        # as Path.read_text does, so a file saved with other line ends is the same version.
        source = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig").read()
    except UnicodeDecodeError:
        return None, Message(N_("{path}: not UTF-8 text; save it as UTF-8"), {"path": str(path)})

    # PostgreSQL text cannot store NUL, and the other control and bidirectional control
    # characters are invisible in the file but reach every prompt (U+202E shows the text
    # after it reversed). No CR is left after reading.
    character = control_character(source, "\t\n")
    if character is not None:
        index = source.index(character)
        line_start = source.rfind("\n", 0, index) + 1
        return None, Message(
            N_("{path}, line {line}, column {column}: contains the invisible control character "
               "{code}; remove it"),
            {"path": str(path), "line": source.count("\n", 0, index) + 1, "column": index - line_start + 1,
             "code": f"U+{ord(character):04X}"},
        )  # fmt: skip
    return source, None


def _trial_render_problems(path: Path, source: str, channel: str) -> list[Message]:
    """Render a template for ``channel`` with sample campaigns, and return what fails, as
    one problem per line.

    A trial render catches misspelt variables, sandbox violations and limits now, instead
    of at every later submit. After the render with every optional field set come one
    render with each optional field empty in turn, which names the field that a failure
    needs, and one with all of them empty.
    """
    # Imported here because contentgen.batches imports this module.
    from contentgen.batches import OPTIONAL_TEMPLATE_FIELDS, sample_context

    label = str(path)
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    try:
        _render_checked(digest, source, sample_context(channel))
    except _RenderFailure as failure:
        return [failure.message(label)]

    problems = []
    for field in OPTIONAL_TEMPLATE_FIELDS:
        try:
            _render_checked(digest, source, sample_context(channel, (field,)))
        except _RenderFailure as failure:
            fix = Message(N_("use the field only inside {example}"), {"example": f"{{% if {field} %}} … {{% endif %}}"})
            problems.append(
                Message(
                    N_("{location}: {reason} when a campaign leaves the optional field {field} empty; {fix}"),
                    {"location": _location(label, failure.line), "reason": failure.reason, "field": field,
                     "fix": failure.fix if isinstance(failure, _EmptyPrompt) else fix},
                )  # fmt: skip
            )
    if problems:
        return problems
    try:
        _render_checked(digest, source, sample_context(channel, OPTIONAL_TEMPLATE_FIELDS))
    except _RenderFailure as all_empty:
        # Only a combination of empty fields fails, such as a template that needs a price
        # or an offer.
        fix = Message(N_("use each optional field only inside {example}"),
                      {"example": "{% if product.price %} … {% endif %}"})  # fmt: skip
        return [
            Message(
                N_("{location}: {reason} when a campaign leaves several optional fields empty; {fix}"),
                {"location": _location(label, all_empty.line), "reason": all_empty.reason,
                 "fix": all_empty.fix if isinstance(all_empty, _EmptyPrompt) else fix},
            )  # fmt: skip
        ]
    return []


def _store_version(session: Session, name: str, source: str) -> SyncResult:
    sha256 = hashlib.sha256(source.encode("utf-8")).hexdigest()
    latest = latest_template(session, name)
    if latest is not None and latest.sha256 == sha256:
        return SyncResult(name, latest.version, changed=False)

    version = 1 if latest is None else latest.version + 1
    session.add(PromptTemplate(name=name, version=version, source=source, sha256=sha256))
    session.flush()
    logger.info("stored template %s version %d", name, version)
    return SyncResult(name, version, changed=True)


def latest_template(session: Session, name: str) -> PromptTemplate | None:
    """Return the newest version of the template called ``name``, or None."""
    newest = select(func.max(PromptTemplate.version)).where(PromptTemplate.name == name)
    return session.scalars(
        select(PromptTemplate).where(
            PromptTemplate.name == name, PromptTemplate.version == newest.scalar_subquery()
        )
    ).one_or_none()


def list_template_versions(session: Session) -> list[dict[str, Any]]:
    """Return every stored template version, by name and then version, with its source."""
    rows = session.scalars(select(PromptTemplate).order_by(PromptTemplate.name, PromptTemplate.version))
    return [
        {"name": row.name, "version": row.version, "sha256": row.sha256,
         "created_at": utc_iso(row.created_at), "source": row.source}
        for row in rows
    ]  # fmt: skip


def render_prompt(template: PromptTemplate, context: Mapping[str, Any]) -> str:
    """Render one template version with a context built by the caller.

    Raises:
        InvalidInput: if the template uses a variable the context lacks, does something the
            sandbox forbids, goes over a limit of ``contentgen.template_sandbox``, fails
            while rendering, or renders only white space.
    """
    label = Message(N_('template "{name}" version {version}'), {"name": template.name, "version": template.version})
    try:
        return _render_checked(template.sha256, template.source, context)
    except _RenderFailure as failure:
        message = failure.message(label)
        raise InvalidInput.from_template(message.template, **message.params) from None


class _RenderFailure(Exception):
    """A template that did not render: the line when Jinja recorded it, what failed and how
    to fix it."""

    def __init__(self, line: int | None, reason: Message | str, fix: Message) -> None:
        super().__init__(str(reason))
        self.line = line
        self.reason = reason
        self.fix = fix

    def message(self, label: Message | str) -> Message:
        return Message(
            N_("{location}: {reason}; {fix}"),
            {"location": _location(label, self.line), "reason": self.reason, "fix": self.fix},
        )


class _EmptyPrompt(_RenderFailure):
    """A template that renders only white space, which no ``{% if %}`` around a field fixes."""

    def __init__(self) -> None:
        super().__init__(None, Message(N_("renders an empty prompt")), Message(N_("write the request to the model in it")))


def _location(label: Message | str, line: int | None) -> Message | str:
    return label if line is None else Message(N_("{label}, line {line}"), {"label": label, "line": line})


def _render_checked(key: str, source: str, context: Mapping[str, Any]) -> str:
    prompt = _render_text(key, source, context)
    if not prompt:
        # The model would get no instructions and write whatever it likes.
        raise _EmptyPrompt()
    return prompt


def _render_text(key: str, source: str, context: Mapping[str, Any]) -> str:
    try:
        return render_limited(_compile(key, source), context).strip()
    except TemplateSyntaxError as error:
        raise _RenderFailure(error.lineno, _sentence(error.message or ""), Message(N_("fix the template syntax"))) from None
    except RenderLimitExceeded as error:
        raise _RenderFailure(_template_line(error), error.reason, error.fix) from None
    except SecurityError as error:
        raise _RenderFailure(_template_line(error), _sentence(str(error)), Message(N_("remove that expression"))) from None
    except UndefinedError as error:
        reason = error.reason if isinstance(error, _UndefinedVariable) else _sentence(str(error))
        raise _RenderFailure(
            _template_line(error), reason, Message(N_("change the template to use a defined variable"))
        ) from None
    except Exception as error:
        # Templates are user input: 1/0, a bad filter argument or an include (there is no
        # loader) fail at render time and must read as the template's fault.
        raise _RenderFailure(
            _template_line(error),
            Message(N_("failed to render: {error}"), {"error": f"{type(error).__name__}: {_sentence(str(error))}"}),
            Message(N_("fix the template")),
        ) from None


def _sentence(text: str) -> str:
    """Drop the final period of an error message that a fix follows after a semicolon."""
    return text.rstrip().removesuffix(".")


def _template_line(error: BaseException) -> int | None:
    """Return the template line that raised, when Jinja recorded it."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == "<template>"]
    return frames[-1].lineno if frames else None


_compiled_cache: dict[str, Any] = {}


def _compile(sha256: str, source: str):
    # Compiling costs far more than rendering, and a 50,000-request batch renders a few
    # templates many times.
    compiled = _compiled_cache.get(sha256)
    if compiled is None:
        compiled = _environment.from_string(source)
        _compiled_cache[sha256] = compiled
    return compiled
