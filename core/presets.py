"""Named output presets: what a job produces, chosen by name, never by free-form arguments.

A preset is data; :mod:`core.plan` turns it into an ffmpeg argv for a given source.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

PresetName = Literal["mp4-720p", "mp4-480p"]
DEFAULT_PRESET: PresetName = "mp4-720p"


@dataclass(frozen=True, slots=True)
class Mp4Preset:
    """One progressive H.264/AAC MP4 plus a poster frame."""

    name: PresetName
    max_height: int
    video_codec: str = "libx264"
    x264_preset: str = "veryfast"
    crf: int = 23
    max_fps: float = 60.0
    audio_codec: str = "aac"
    audio_bitrate_kbps: int = 128
    audio_channels: int = 2
    poster_width: int = 640

    def spec_hash(self) -> str:
        """Identity of what this preset produces; part of the job's idempotency key."""
        body = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(body).hexdigest()[:16]


PRESETS: dict[PresetName, Mp4Preset] = {
    "mp4-720p": Mp4Preset(name="mp4-720p", max_height=720),
    "mp4-480p": Mp4Preset(name="mp4-480p", max_height=480, crf=24, audio_bitrate_kbps=96),
}


def get_preset(name: PresetName) -> Mp4Preset:
    return PRESETS[name]
