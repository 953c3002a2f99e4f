"""``--preset``: what ``--help`` lists, and the refusal of an unknown name before a command
starts anything (an emulator, an upload), in the words the user typed."""

from __future__ import annotations

from core.presets import builtin_catalog
from handlers.cli_errors import EXIT_USAGE, CommandError
from infra.presets import load_presets
from infra.settings import Settings


def preset_help(what: str) -> str:
    """``what``, then the shipped presets and the default (a presets file may add more)."""
    shipped = builtin_catalog()
    names = ", ".join(shipped.presets)
    return f"{what}: {names} (default {shipped.default}; FFAPI_PRESETS_FILE may add more)."


def require_preset(settings: Settings, name: str | None, flag: str = "--preset") -> None:
    """Refuse ``name`` unless the catalog in force has it. The catalog is the files', not
    ``settings.presets()``: that one judges FFAPI_PRESET, which is not what was typed. With
    FFAPI_CONFIG, its document may define more: the command judges the name against it later."""
    if name is None or settings.config:
        return
    catalog = load_presets(settings.presets_file)
    if catalog.get(name) is None:
        raise CommandError(
            f"{flag} {name!r} is not a preset", f"one of: {', '.join(catalog.presets)}", EXIT_USAGE
        )
