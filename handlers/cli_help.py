"""How ``ffapi --help`` shows options: a flag as a plain flag, never ``--json <bool>``.

Typer's rich help prints every option's type, flags included (and its own ``--help``), as if
they took a value; an empty metavar prints none.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption


def flag(*names: str, help: str) -> Any:
    """A boolean option that takes no value (``--json``, not ``--json <bool>``)."""
    return typer.Option(*names, help=help, metavar="")


def _plain_help(option: TyperOption | None) -> TyperOption | None:
    if option is not None:
        option.metavar = ""
    return option


class FlagCommand(TyperCommand):
    """A command whose ``-h/--help`` is shown as the flag it is."""

    def get_help_option(self, ctx: Any) -> TyperOption | None:
        return _plain_help(super().get_help_option(ctx))


class FlagGroup(TyperGroup):
    """A command group whose ``-h/--help`` is shown as the flag it is."""

    def get_help_option(self, ctx: Any) -> TyperOption | None:
        return _plain_help(super().get_help_option(ctx))
