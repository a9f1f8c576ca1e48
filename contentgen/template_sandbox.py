"""The Jinja sandbox that prompt templates render in, with limits on what one render costs.

Jinja's sandbox (jinja2 3.1) keeps a template away from Python internals, but it limits
neither time nor memory: ``{{ " pad" * 25000000 }}`` builds 100 MB of text, and two nested
loops over ``range(100000)`` run for hours. ``render_limited`` raises ``RenderLimitExceeded``
when a render

- takes more than ``MAX_RENDER_STEPS`` steps. Each number of a ``range()``, each item that
  any other ``for`` loop takes and each call of a function, method or macro is one step.
- builds text, a list or a tuple longer than ``MAX_BUILT_LENGTH`` with ``*`` or ``+``, or an
  integer of more than ``MAX_INTEGER_BITS`` bits with ``*`` or ``**``. These are checked
  before the value is built.
- outputs more than ``MAX_PROMPT_LENGTH`` characters, checked while the output is produced.

NOTE: text that ``~``, filters, string methods (``join``, ``replace``, ``center``,
``format``) or a ``{% set %}`` block build is not limited while it is built. A template
written to do that can still take hundreds of megabytes before a limit stops it. Only
rendering in a separate process with a memory limit would bound every case.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import Template, nodes
from jinja2.compiler import CodeGenerator
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from contentgen.i18n import N_, Message

# Prompts are for small models: the default, SmolLM2-135M-Instruct, has a context of 8,192
# tokens (its GGUF metadata), and the shipped templates render 360 to 820 characters for the
# sample campaign of ``templates sync``. 20,000 characters is far beyond any real prompt.
MAX_PROMPT_LENGTH = 20_000
# The shipped templates take at most 51 steps per render: one per product feature (at most
# 50) and one to start the loop over them.
MAX_RENDER_STEPS = 100_000
# A value longer than a whole prompt cannot be part of one.
MAX_BUILT_LENGTH = MAX_PROMPT_LENGTH
# About 3,000 decimal digits. Python 3.11 converts integers of at most 4,300 digits to text
# (sys.int_info.default_max_str_digits).
MAX_INTEGER_BITS = 10_000


class RenderLimitExceeded(Exception):
    """A render that went over a limit of this module.

    ``reason`` names the limit, and ``fix`` what the template's author can change.
    """

    def __init__(self, reason: Message, fix: Message) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.fix = fix


@dataclass
class _StepBudget:
    remaining: int


# The steps left to the render that runs in this thread, set by render_limited.
_budget: ContextVar[_StepBudget] = ContextVar("template_step_budget")


def _spend_steps(steps: int) -> None:
    budget = _budget.get(None)
    if budget is None:
        # Rendering without a budget would have no limit at all.
        raise RuntimeError("prompt templates must be rendered with render_limited()")
    budget.remaining -= steps
    if budget.remaining < 0:
        raise RenderLimitExceeded(
            Message(
                N_("takes more than {limit} steps in one render (each range() number, loop "
                   "iteration and call is one step)"),
                {"limit": f"{MAX_RENDER_STEPS:,}"},
            ),
            Message(N_("loop over fewer items")),
        )  # fmt: skip


class _CountingCodeGenerator(CodeGenerator):
    """Compile every ``for`` loop to take its items through ``count_loop_items``, so that
    even a loop with an empty body spends steps."""

    def visit_Template(self, node: nodes.Template, frame: Any = None) -> None:
        for loop in list(node.find_all(nodes.For)):
            counter = nodes.EnvironmentAttribute("count_loop_items", lineno=loop.iter.lineno)
            loop.iter = nodes.Call(counter, [loop.iter], [], None, None, lineno=loop.iter.lineno)
        super().visit_Template(node, frame)


class LimitedSandboxedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the limits of this module.

    Templates of this environment render only through ``render_limited``.
    """

    code_generator_class = _CountingCodeGenerator
    # Not folded into constants at compile time, so that ``call_binop`` checks them too.
    intercepted_binops = frozenset({"*", "+", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # lipsum() builds up to thousands of paragraphs of random text in one call, which
        # the step count would take as one step, and a prompt has no use for it.
        del self.globals["lipsum"]

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _spend_steps(1)
        if obj is safe_range:
            _spend_steps(_range_length(args, kwargs))
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_product(left, right)
        elif operator == "+":
            _check_sum(left, right)
        elif operator == "**":
            _check_power(left, right)
        return super().call_binop(context, operator, left, right)

    @staticmethod
    def count_loop_items(items: Iterable[Any]) -> Iterable[Any]:
        # A range paid for its numbers when it was created.
        if isinstance(items, range):
            return items
        return _counted(items)


def _counted(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        _spend_steps(1)
        yield item


# Keyword arguments that compiled templates add to calls inside loops and blocks, and that
# ``jinja2.runtime.Context.call`` removes before calling.
_JINJA_CALL_KEYWORDS = ("_loop_vars", "_block_vars")


def _range_length(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    arguments = {name: value for name, value in kwargs.items() if name not in _JINJA_CALL_KEYWORDS}
    try:
        return len(range(*args, **arguments))
    except OverflowError:
        # Longer than an index can be: more than any budget.
        return MAX_RENDER_STEPS + 1
    except (TypeError, ValueError):
        # The call itself raises the same error, which names the wrong argument.
        return 0


_SEQUENCES = (str, list, tuple)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, _SEQUENCES) and isinstance(right, int):
        _check_built_length("*", left, len(left) * max(right, 0))
    elif isinstance(right, _SEQUENCES) and isinstance(left, int):
        _check_built_length("*", right, len(right) * max(left, 0))
    elif _is_integer(left) and _is_integer(right):
        _check_integer_bits("*", abs(left).bit_length() + abs(right).bit_length())


def _check_sum(left: Any, right: Any) -> None:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _check_built_length("+", left, len(left) + len(right))


def _check_power(base: Any, exponent: Any) -> None:
    # A negative exponent gives a float, and a base of -1, 0 or 1 stays small.
    if _is_integer(base) and _is_integer(exponent) and exponent > 0 and abs(base) > 1:
        _check_integer_bits("**", math.ceil(exponent * math.log2(abs(base))))


def _check_built_length(operator: str, sample: Any, length: int) -> None:
    if length <= MAX_BUILT_LENGTH:
        return
    unit = Message(N_("characters")) if isinstance(sample, str) else Message(N_("items"))
    raise RenderLimitExceeded(
        Message(
            N_("{operator} would build a value of {length} {unit}, over the maximum of {limit}"),
            {"operator": operator, "length": f"{length:,}", "unit": unit, "limit": f"{MAX_BUILT_LENGTH:,}"},
        ),
        Message(N_("build a shorter value")),
    )


def _check_integer_bits(operator: str, bits: int) -> None:
    # ``bits`` is an estimate: a product may have one bit less.
    if bits <= MAX_INTEGER_BITS:
        return
    raise RenderLimitExceeded(
        Message(
            N_("{operator} would build a number of about {bits} bits, over the maximum of {limit}"),
            {"operator": operator, "bits": f"{bits:,}", "limit": f"{MAX_INTEGER_BITS:,}"},
        ),
        Message(N_("use smaller numbers")),
    )


def render_limited(template: Template, context: Mapping[str, Any]) -> str:
    """Render ``template`` with the step budget of one render and return its output.

    Raises:
        RenderLimitExceeded: if the render goes over a limit of this module.
        Exception: whatever the template raises, as ``Template.render`` does.
    """
    budget_token = _budget.set(_StepBudget(MAX_RENDER_STEPS))
    pieces = []
    length = 0
    output = template.generate(context)
    try:
        for piece in output:
            length += len(piece)
            if length > MAX_PROMPT_LENGTH:
                raise RenderLimitExceeded(
                    Message(
                        N_("renders more than {limit} characters, the maximum length of a prompt"),
                        {"limit": f"{MAX_PROMPT_LENGTH:,}"},
                    ),
                    Message(N_("shorten the template's text or loops, or the campaign's values")),
                )
            pieces.append(piece)
    finally:
        output.close()
        _budget.reset(budget_token)
    return "".join(pieces)

