"""The ``audio`` step's branch of a steps pass: the transformed sound, encoded alone.

It takes its own copy of the chain's sound (the compiler's ``asplit`` gives it a label) and
writes one file under ``out / folder``. Every number in its options comes from the step's
validated fields or from the format's defaults here. Each format (mp3, aac, m4a, Ogg Opus,
FLAC, WAV) names its encoder and muxer; the file is read back before the result lists it
(:mod:`core.steps.results`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from core.steps.outputs import Audio
from core.steps.stage import Branch


@dataclass(frozen=True, slots=True)
class AudioCodec:
    encoder: str
    muxer: str
    extension: str
    bitrate_kbps: int | None  # the default of a lossy codec; None: lossless


# What each format is written as: the muxer named, never guessed from the extension.
CODECS = {
    "mp3": AudioCodec("libmp3lame", "mp3", "mp3", 192),
    "aac": AudioCodec("aac", "ipod", "m4a", 160),
    "m4a": AudioCodec("aac", "ipod", "m4a", 160),
    "opus": AudioCodec("libopus", "ogg", "opus", 96),
    "flac": AudioCodec("flac", "flac", "flac", None),
    "wav": AudioCodec("pcm_s16le", "wav", "wav", None),
}


def audio_name(step: Audio) -> str:
    """The file the step writes, under its folder."""
    return f"audio.{CODECS[step.format].extension}"


def audio_branch(
    step: Audio, out: PurePosixPath, folder: str, sound: str, channels: int = 2
) -> Branch:
    """``channels``: the chain's sound's (an MP3 holds two: a 5.1 sound is downmixed)."""
    codec = CODECS[step.format]
    rate = step.bitrate_kbps or codec.bitrate_kbps
    layout = step.channels or (2 if step.format == "mp3" and channels > 2 else None)
    options = [
        "-map", sound, "-c:a", codec.encoder,
        *(["-b:a", f"{rate}k"] if rate is not None else []),
        *(["-ac", str(layout)] if layout else []),
        *(["-ar", str(step.sample_rate)] if step.sample_rate else []),
        *(["-movflags", "+faststart"] if codec.muxer == "ipod" else []),
        "-map_metadata", "-1", "-f", codec.muxer,
        f"file:{out / folder / audio_name(step)}",
    ]  # fmt: skip
    return Branch(
        graph=(), args=tuple(options), dirs=(folder,), takes_video=False, takes_audio=True
    )
