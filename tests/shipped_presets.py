"""A shipped preset by name, as the kind a test needs: the catalog holds every kind, so its
lookup is typed as their union."""

from typing import TypeVar

from core.presets import Mp4Preset, StepsPreset, StreamingPreset, builtin_catalog

PresetKind = TypeVar("PresetKind", Mp4Preset, StreamingPreset, StepsPreset)


def shipped(name: str, kind: type[PresetKind]) -> PresetKind:
    preset = builtin_catalog().presets[name]
    assert isinstance(preset, kind), f"{name} is a {type(preset).__name__}"
    return preset
