"""Hostile subtitle files (issue 18): refused, or rendered safely, in bounded time and memory.

Each file goes through the real pipeline as a ``subtitles`` step's source. A refusal names
the step and field and comes before the main pass (at most the one conversion ran); a file
that is drawn or carried keeps its text as text: no file or URL it names is opened (the
canary port below is never listened on, and ffmpeg reads only ``file:`` through the
subtitle demuxers), no font it embeds reaches libass, and nothing of its styling is
published.
"""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from core.text.subtitle_files import MAX_SUBTITLE_BYTES
from core.text.subtitles import MAX_CUE_CHARS, MAX_CUES
from tests.integration.steps_job import make, run_steps
from tests.step_docs import StepDocs

pytestmark = pytest.mark.security

SECRET = "/etc/passwd"
URL = "http://127.0.0.1:9/canary"
ASS_HEAD = """[Script Info]
ScriptType: v4.00+
PlayResX: 160
PlayResY: 120

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour
Style: Default,{font},20,&H00FFFFFF

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


def _srt_time(millis: int) -> str:
    return f"00:{millis // 60000:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"


def _srt(cues: int, text: str = "x") -> str:
    # each its own time: ffmpeg drops a cue that repeats another's times and text
    return "".join(
        f"{n + 1}\n{_srt_time(n)} --> {_srt_time(n + 1)}\n{text}\n\n" for n in range(cues)
    )


def _hostile_ass() -> str:
    """Override tags naming a file and a URL, a style whose font is a path, an embedded
    font and picture (the sections libass would load)."""
    return (
        ASS_HEAD.format(font=SECRET)
        + f"Dialogue: 0,0:00:00.00,0:00:01.50,Default,,0,0,0,,{{\\fn{SECRET}}}{URL}\n"
        + "\n[Fonts]\nfontname: evil_0.ttf\n"
        + "M" * 80
        + "\n"
        + "\n[Graphics]\nfilename: evil.png\n"
        + "M" * 80
        + "\n"
    )


def _drawing(points: int) -> str:
    path = "m 0 0 " + "l 1 1 " * points
    return ASS_HEAD.format(font="DejaVu Sans") + (
        f"Dialogue: 0,0:00:00.00,0:00:01.00,Default,,0,0,0,,{{\\p1}}{path}\n"
    )


HLS_AS_SRT = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{URL}\n#EXTINF:1,\nfile:{SECRET}\n"
# name -> (file body, mode, what the refusal says after "steps[0].source: ")
REFUSED: dict[str, tuple[bytes, str, str]] = {
    "huge": (b"1\n00:00:00,000 --> 00:00:01,000\n" + b"A" * (MAX_SUBTITLE_BYTES + 1), "sidecar",
             "bytes; a subtitle file may have"),
    "binary": (bytes(range(256)) * 64, "sidecar", ""),
    "playlist": (HLS_AS_SRT.encode(), "sidecar", ""),
    "many-cues": (_srt(MAX_CUES + 50).encode(), "sidecar", f"more than {MAX_CUES} cues"),
    "long-cue": (_srt(1, "y" * (MAX_CUE_CHARS + 10)).encode(), "sidecar", "characters"),
    "drawing-million-points": (_drawing(600_000).encode(), "burn", ""),
    "drawing": (_drawing(100).encode(), "burn", "vector drawing"),
    "no-cues": (b"WEBVTT\n\nNOTE nothing here\n", "sidecar", "has no cues"),
    "latin-1": ("1\n00:00:00,000 --> 00:00:01,000\ncaf\xe9 \xe0 la cr\xe8me\n".encode("latin-1"),
                "sidecar", ""),
}  # fmt: skip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make(
        tmp_path_factory.mktemp("subs-clip"), "clip.mp4",
        "-f", "lavfi", "-i", "color=c=black:s=160x120:r=10:d=2",
        "-f", "lavfi", "-i", "sine=duration=2", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-c:a", "aac",
    )  # fmt: skip


def _steps(mode: str) -> StepDocs:
    subtitles = {
        "op": "subtitles",
        "source": {"key": "subs/x.srt"},
        "language": "eng",
        "mode": mode,
    }
    encode = "web-hls" if mode == "sidecar" else "mp4-480p"
    return [subtitles, {"op": "encode", "preset": encode}]


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_hostile_file_is_refused_before_the_pass(name: str, clip: Path, tmp_path: Path) -> None:
    body, mode, reason = REFUSED[name]
    hostile = tmp_path / "x.srt"
    hostile.write_bytes(body)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    outcome = run_steps(clip, tmp_path / "job", _steps(mode), {"subs/x.srt": hostile})
    assert outcome.error is not None, name
    message = str(outcome.error)
    assert message.startswith("steps[0].source: "), message
    assert reason in message
    assert outcome.error.retryable is False
    assert outcome.transcodes <= 1  # the conversion at most: the encode never ran
    assert not (outcome.out / "encode").exists() or not any((outcome.out / "encode").iterdir())
    assert SECRET not in message
    assert str(tmp_path) not in message
    # every child (ffprobe, ffmpeg) stayed small: the caps hold, whatever the file says. The
    # kernel keeps the largest of all this process's children, so after a larger one (an
    # earlier test's encode) only a child larger still would show
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss <= max(before, 512 * 1024)


def test_a_hostile_ass_is_burnt_without_its_fonts_files_or_urls(clip: Path, tmp_path: Path) -> None:
    hostile = tmp_path / "x.ass"
    hostile.write_text(_hostile_ass())
    outcome = run_steps(clip, tmp_path / "job", _steps("burn"), {"subs/x.srt": hostile})
    assert outcome.error is None, outcome.error
    script = (outcome.out.parent / "subs" / "step-0.ass").read_text()
    assert "[Fonts]" not in script
    assert "evil_0.ttf" not in script
    assert "[Graphics]" not in script
    assert "Dialogue:" in script  # the words are drawn, as characters
    assert (outcome.out / "encode" / "video.mp4").stat().st_size > 0


def test_styling_and_markup_in_a_sidecar_stay_text(clip: Path, tmp_path: Path) -> None:
    vtt = tmp_path / "x.vtt"
    vtt.write_text(
        "WEBVTT\n\nSTYLE\n@import url("
        + URL
        + ");\n::cue { background: url(file://"
        + SECRET
        + ") }\n\nREGION\nid:r\n\n00:00.200 --> 00:01.000 region:r\n"
        + "<c.x>a</c> <v Bob>b</v> 1 < 2 --> 3 &amp; <img src="
        + URL
        + ">\n"
    )
    outcome = run_steps(clip, tmp_path / "job", _steps("sidecar"), {"subs/x.srt": vtt})
    assert outcome.error is None, outcome.error
    tracks = outcome.out / "encode" / "cmaf" / "subtitles"
    published = "".join(p.read_text() for p in sorted(tracks.iterdir()))
    assert "@import" not in published
    assert "url(" not in published
    assert "<img" not in published
    assert "<c." not in published
    assert "a b 1" in published  # ffmpeg's reader takes "< 2 -->" for a tag; text stays
    assert "3 &amp;\n" in published
