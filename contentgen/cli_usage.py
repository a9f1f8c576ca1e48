"""Usage lines that name each argument in upper case.

Typer 0.28 prints a required argument in a usage line as its parameter name in braces,
"contentgen batch status [OPTIONS] {batch_id}", and older versions print "BATCH_ID". The
commands here print "BATCH_ID" with any version, as README.md writes commands.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand


def argument_usage(argument: TyperArgument) -> str:
    """Return the usage line's word for ``argument``: "BATCH_ID", "[REVISION]" or "FILE..."."""
    word = argument.metavar or (argument.name or "").upper()
    if not argument.required:
        word = f"[{word}]"
    if argument.nargs != 1:
        word += "..."
    return word


class UsageCommand(TyperCommand):
    """A command whose usage line names each argument in upper case, without braces."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(argument_usage(param))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class UsageTyper(typer.Typer):
    """A Typer app whose commands are ``UsageCommand`` unless a command names its own class."""

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any):
        return super().command(name, cls=cls or UsageCommand, **kwargs)
