"""Reading a sender's subtitle file safely: which demuxers open it, how ffmpeg converts it,
and what of an ASS script reaches libass when it is burnt into the picture.

A subtitle object is probed and converted with the SRT, WebVTT and ASS/SSA demuxers and
decoders only (``-format_whitelist``, ``-codec_whitelist``), never guessed into anything else
(a playlist, a concat script). Its size is capped before it is downloaded, and its cues once
ffmpeg has read them (:mod:`core.text.subtitles`). For burning, ffmpeg writes the cues as an ASS
script (its own header, the styles the sender gave) and this module keeps only the sections
libass draws from: ``[Fonts]`` and ``[Graphics]`` (fonts and pictures embedded in the
script, which libass would load) are dropped, and a vector drawing (``\\p1``...) is refused,
since libass rasterises every point of it on every frame it shows.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import PurePosixPath

from core.errors import InvalidMedia
from core.media.hardening import InputGuard
from core.media.plan import GLOBAL_FLAGS
from core.media.probe import ProbeResult, StreamFacts
from core.media.probe_doc import ProbeDoc

SUBTITLE_FORMATS = ("srt", "webvtt", "ass")
SUBTITLE_CODECS = ("subrip", "webvtt", "ass")
# Text subtitle codecs an input's own stream may have for a sidecar or a burn (bitmaps,
# teletext and CEA-608 are not text ffmpeg converts to WebVTT or ASS).
TEXT_STREAM_CODECS = frozenset({"subrip", "webvtt", "ass", "mov_text", "text"})
MAX_SUBTITLE_BYTES = 4 * 1024 * 1024
MAX_ASS_BYTES = 8 * 1024 * 1024  # the script ffmpeg writes (styles, tags, the cues)
SUBS_DIR = "subs"  # in the job directory: each subtitles step's converted file
_KEPT_SECTIONS = frozenset({"[script info]", "[v4+ styles]", "[v4 styles]", "[events]"})
_DRAWING = re.compile(r"\\p\s*[1-9]")


def subtitle_guard(guard: InputGuard) -> InputGuard:
    """The job's caps, with the subtitle demuxers and decoders in place of the media's."""
    return replace(guard, formats=SUBTITLE_FORMATS, codecs=SUBTITLE_CODECS, max_streams=1)


def check_subtitle_size(size: int | None) -> None:
    """A subtitle file's bytes against the cap (None: unknown, checked again once here)."""
    if size is not None and size > MAX_SUBTITLE_BYTES:
        raise InvalidMedia(f"is {size} bytes; a subtitle file may have {MAX_SUBTITLE_BYTES}")


def subtitle_probe(doc: ProbeDoc) -> ProbeResult:
    """ffprobe's JSON for a subtitle file: one subtitle stream of a text codec, else refused."""
    fmt = doc.format
    if len(doc.streams) != 1 or doc.streams[0].codec_type != "subtitle":
        raise InvalidMedia("is not a subtitle file (SRT, WebVTT, ASS/SSA)")
    codec = doc.streams[0].codec_name or ""
    if codec not in SUBTITLE_CODECS:
        raise InvalidMedia("is not a subtitle file (SRT, WebVTT, ASS/SSA)")
    size = fmt.size
    return ProbeResult(
        format_name=fmt.format_name or "",
        duration=0.0,
        size=int(size) if size is not None and size.isdigit() else None,
        video=None,
        audio=None,
        streams=(StreamFacts(index=0, kind="subtitle", codec=codec),),
    )


def converted_name(index: int, mode: str) -> str:
    """The converted file of step ``index``, relative to the job directory."""
    return f"{SUBS_DIR}/step-{index}.{'ass' if mode == 'burn' else 'vtt'}"


def convert_argv(
    input_flags: tuple[str, ...], source: PurePosixPath, stream: int, dest: str, mode: str
) -> tuple[str, ...]:
    """ffmpeg: subtitle stream ``stream`` of ``source`` (read with ``input_flags``) as WebVTT
    (a sidecar) or an ASS script (a burn), nothing else of the file."""
    codec = "ass" if mode == "burn" else "webvtt"
    fmt = "ass" if mode == "burn" else "webvtt"
    return (
        "ffmpeg", *GLOBAL_FLAGS, *input_flags, "-i", f"file:{source}",
        "-map", f"0:s:{stream}", "-c:s", codec, "-f", fmt, f"file:{dest}",
    )  # fmt: skip


def plain_webvtt(text: str) -> str:
    """A WebVTT file without its STYLE, REGION and NOTE blocks: ffmpeg 5.1's demuxer loses
    every cue after a STYLE block, and a sidecar keeps no styling or regions anyway (a
    player's CSS is its own; ``@import`` and ``url(...)`` never reach one)."""
    blocks = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    kept = [b for b in blocks if not b.lstrip().startswith(("STYLE", "REGION", "NOTE"))]
    return "\n\n".join(kept).rstrip("\n") + "\n"


def safe_ass(text: str) -> str:
    """An ASS script with only the sections libass draws from; a vector drawing refused."""
    if len(text) > MAX_ASS_BYTES:
        raise InvalidMedia(f"is more than {MAX_ASS_BYTES // (1024 * 1024)} MiB as a script")
    kept: list[str] = []
    keep = True
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            keep = stripped.lower() in _KEPT_SECTIONS
        if keep:
            kept.append(line)
    for line in kept:
        if line.startswith("Dialogue:") and _DRAWING.search(line):
            raise InvalidMedia("has a vector drawing (\\p); drawings are not burnt in")
    return "\n".join(kept) + "\n"
