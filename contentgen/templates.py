"""Prompt templates: syncing ``*.j2`` files into versioned rows, and rendering them.

Templates and campaign values are both user input. Templates are compiled in Jinja's
immutable sandbox with ``StrictUndefined``, so a misspelt variable is an error instead of an
empty string and no template can change the values it is given. Campaign values are passed only as context data, so ``{{ 7*7 }}`` in a product name
reaches the prompt as those seven characters and is never evaluated.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contentgen.channels import CHANNELS
from contentgen.errors import InvalidInput
from contentgen.models import PromptTemplate, utc_iso
from contentgen.resources import templates_dir

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


class _NamedStrictUndefined(StrictUndefined):
    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any):
        if isinstance(self._undefined_obj, ContextValue) and self._undefined_hint is None:
            value = self._undefined_obj
            raise UndefinedError(
                f'template variable "{value.path}.{self._undefined_name}" is not defined '
                f"({value.path} has: {', '.join(value)})"
            )
        if self._undefined_hint is None and self._undefined_name is not None:
            raise UndefinedError(f'template variable "{self._undefined_name}" is not defined')
        return super()._fail_with_undefined_error(*args, **kwargs)

    __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = __contains__ = (
        _fail_with_undefined_error
    )


def create_environment() -> ImmutableSandboxedEnvironment:
    """Create the sandboxed Jinja environment every prompt template is compiled in.

    The immutable sandbox also rejects methods that change a list or dict, such as
    ``append`` or ``update``, so a template cannot alter the values it is given.
    """
    return ImmutableSandboxedEnvironment(
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


def sync_templates(
    session: Session, folder: Path | None = None, sample_context: Mapping[str, Any] | None = None
) -> list[SyncResult]:
    """Store every ``*.j2`` file in ``folder`` as a new template version if its text changed.

    Each file must be named after a channel (``<channel key>.j2``) and render with a sample
    campaign's context before anything is stored.

    Args:
        session: an open session; the caller commits.
        folder: where the files are; defaults to the templates shipped with contentgen.
        sample_context: the context for the trial render; defaults to
            ``contentgen.batches.sample_context()``.

    Returns:
        One result per file, in name order.

    Raises:
        InvalidInput: if the folder has no templates, a file is named after no channel, or a
            template does not render. Nothing is stored then.
    """
    if sample_context is None:
        from contentgen.batches import sample_context as build_sample_context

        sample_context = build_sample_context()
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
        f"{path}: no channel uses this template; rename it to the template of a channel "
        f"({', '.join(known)}) or remove it"
        for path in files
        if path.name not in known
    ]
    for path in files:
        try:
            # utf-8-sig drops the byte order mark that some Windows editors write, which would
            # otherwise start every prompt. Text mode turns CRLF and CR line ends into LF, so
            # a file saved with other line ends is the same version.
            sources[path.name] = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            problems.append(f"{path}: not UTF-8 text; save it as UTF-8")
    problems += [
        problem
        for name, source in sources.items()
        if (problem := _render_problem(folder / name, source, sample_context))
    ]
    if problems:
        raise InvalidInput("prompt templates are invalid; nothing was synced:", problems)

    return [_store_version(session, name, source) for name, source in sources.items()]


def _render_problem(path: Path, source: str, context: Mapping[str, Any]) -> str | None:
    # A trial render with a full sample campaign catches misspelt variables and sandbox
    # violations now, instead of at every later submit.
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    try:
        _render(str(path), digest, source, context)
    except InvalidInput as error:
        return str(error)
    return None


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
            sandbox forbids, fails while rendering, or renders only white space.
    """
    label = f'template "{template.name}" version {template.version}'
    return _render(label, template.sha256, template.source, context)


def _render(label: str, key: str, source: str, context: Mapping[str, Any]) -> str:
    prompt = _render_text(label, key, source, context)
    if not prompt:
        # The model would get no instructions and write whatever it likes.
        raise InvalidInput(f"{label} renders an empty prompt; write the request to the model in it")
    return prompt


def _render_text(label: str, key: str, source: str, context: Mapping[str, Any]) -> str:
    try:
        return _compile(key, source).render(context).strip()
    except TemplateSyntaxError as error:
        raise InvalidInput(f"{label}, line {error.lineno}: {error.message}") from None
    except SecurityError as error:
        reason = str(error).rstrip(".")
        raise InvalidInput(
            f"{label}{_template_line(error)} is unsafe: {reason}; remove that expression"
        ) from None
    except UndefinedError as error:
        raise InvalidInput(
            f"{label}{_template_line(error)}: {error}; change the template to use a defined variable"
        ) from None
    except Exception as error:
        # Templates are user input: 1/0, a bad filter argument or an include (there is no
        # loader) fail at render time and must read as the template's fault.
        raise InvalidInput(
            f"{label}{_template_line(error)} failed to render: "
            f"{type(error).__name__}: {error}; fix the template"
        ) from None


def _template_line(error: BaseException) -> str:
    """Return ", line N" for the template line that raised, when Jinja recorded it."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == "<template>"]
    return f", line {frames[-1].lineno}" if frames else ""


_compiled_cache: dict[str, Any] = {}


def _compile(sha256: str, source: str):
    # Compiling costs far more than rendering, and a 50,000-request batch renders a few
    # templates many times.
    compiled = _compiled_cache.get(sha256)
    if compiled is None:
        compiled = _environment.from_string(source)
        _compiled_cache[sha256] = compiled
    return compiled
