"""The MediaTool port's typed probe on a real file: ffprobe 5.1's JSON read into ProbeDoc
keeps every field as printed (so probe.json publishes what it always did), and the typed
fields carry what the parsers read (the display matrix's rotation, the audio's tags)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from core.media.probe import parse_probe, public_probe
from infra.ffmpeg import FfmpegMedia

pytestmark = pytest.mark.integration

_FFMPEG = ("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y")
_WHERE = "+48.8584+002.2945/"


def tagged_portrait(tmp_path: Path) -> Path:
    """Two seconds of H.264/AAC, turned a quarter (set on a stream copy: ffmpeg 5.1 writes
    the display matrix only then), a French audio track named by its handler, and a GPS position."""
    plain, out = tmp_path / "plain.mp4", tmp_path / "tagged.mp4"
    subprocess.run([*_FFMPEG, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2",
                    "-f", "lavfi", "-i", "sine=duration=2", "-c:v", "libx264", "-preset",
                    "ultrafast", "-c:a", "aac", "-shortest", str(plain)],
                   check=True, timeout=120)  # fmt: skip
    subprocess.run([*_FFMPEG, "-i", str(plain), "-map", "0", "-c", "copy",
                    "-metadata:s:v:0", "rotate=-90", "-metadata:s:a:0", "language=fra",
                    "-metadata:s:a:0", "handler_name=Narration", "-metadata", f"location={_WHERE}",
                    str(out)], check=True, timeout=120)  # fmt: skip
    return out


def raw_ffprobe(path: Path) -> dict[str, object]:
    """ffprobe's JSON as it prints it, untyped: what the port returned before ProbeDoc."""
    argv = ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
    out = subprocess.run(
        [*argv, f"file:{path}"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    doc: dict[str, object] = json.loads(out)
    return doc


def _text(doc: object) -> str:
    """A document as probe.json's bytes are written (sorted keys, indented)."""
    return json.dumps(doc, indent=2, sort_keys=True)


def test_the_typed_probe_keeps_what_ffprobe_printed(tmp_path: Path) -> None:
    clip = tagged_portrait(tmp_path)
    doc = asyncio.run(FfmpegMedia().probe(clip))
    raw = raw_ffprobe(clip)
    # Every field, of every stream, with ffprobe's own types ("2.000000" stays a string,
    # -90 an integer): compared as JSON text, where 90 and 90.0 differ.
    assert _text(doc.model_dump(exclude_unset=True)) == _text(raw)
    video, audio = doc.streams
    assert video.side_data_list is not None
    assert [s.rotation for s in video.side_data_list] == [-90]  # counter-clockwise
    assert audio.tags is not None
    assert (audio.tags["language"], audio.tags["handler_name"]) == ("fra", "Narration")

    result = parse_probe(doc)
    assert result.video is not None
    assert (result.video.rotation, result.video.display_size) == (90, (240.0, 320.0))
    assert result.audio is not None
    assert (result.audio.language, result.audio.title) == ("fra", None)


def test_probe_json_publishes_ffprobes_fields_without_tags_or_path(tmp_path: Path) -> None:
    clip = tagged_portrait(tmp_path)
    published = _text(public_probe(asyncio.run(FfmpegMedia().probe(clip))))
    assert _WHERE not in published
    assert "Narration" not in published
    assert str(tmp_path) not in published
    raw = raw_ffprobe(clip)
    streams, fmt = raw["streams"], raw["format"]
    assert isinstance(streams, list)
    assert isinstance(fmt, dict)
    expected = {
        "streams": [
            {**{k: v for k, v in s.items() if k != "tags"}, "tags": {"language": lang}}
            for s, lang in zip(streams, ("und", "fra"), strict=True)
        ],
        "format": {k: v for k, v in fmt.items() if k not in ("filename", "tags")},
    }
    assert published == _text(expected)
