"""The preset catalog in force: the shipped presets, read over by the user's file."""

from __future__ import annotations

from pathlib import Path

from core.presets import PresetCatalog, PresetFileError, builtin_catalog, parse_catalog


def load_presets(path: Path | None) -> PresetCatalog:
    """``FFAPI_PRESETS_FILE`` over the shipped catalog; a missing or invalid file stops the
    worker at start rather than failing every job later."""
    if path is None:
        return builtin_catalog()
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise PresetFileError(f"cannot read presets file {path}: {exc.strerror}") from exc
    return parse_catalog(text, base=builtin_catalog())
