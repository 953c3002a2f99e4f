"""A split job's chunk reads only its window of the input (``infra.source_index``,
``core.media.mp4_index``), on real files: the byte ranges found in an MP4 (its index after
the media, as ffmpeg writes it, or before, ``+faststart``), fetched into a sparse file of
the input's size, decode that window to exactly the frames the whole file gives (framemd5),
through the range encode's own seek; and they are a fraction of the file. A file whose
index this does not read (Matroska, a fragmented MP4) is read whole."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from infra import source_index
from infra.source_index import Mp4SourceIndex

pytestmark = pytest.mark.integration

SECONDS = 40


def clip(dest: Path, *flags: str) -> Path:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
         "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=30:duration={SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", *flags, f"file:{dest}"],
        check=True,
    )  # fmt: skip
    return dest


def sparse(source: Path, spans: tuple[tuple[int, int], ...], dest: Path) -> Path:
    data = source.read_bytes()
    with dest.open("wb") as f:
        f.truncate(len(data))
        for start, end in spans:
            f.seek(start)
            f.write(data[start:end])
    return dest


def frames(path: Path, seek: float, start: float, end: float) -> list[str]:
    """The window's decoded frames, read as a range encode reads it (input seek, copyts)."""
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-copyts",
         "-start_at_zero", "-ss", f"{seek}", "-i", f"file:{path}", "-map", "0:v",
         "-vf", f"trim=start={start}:end={end}", "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stderr == ""  # no packet of zeros decoded
    return [line for line in out.stdout.splitlines() if not line.startswith("#")]


@pytest.mark.parametrize("flags", [(), ("-movflags", "+faststart")], ids=["moov-last", "faststart"])
def test_a_window_read_from_its_spans_decodes_as_the_whole_file(
    tmp_path: Path, flags: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = clip(tmp_path / "film.mp4", *flags)
    monkeypatch.setattr(source_index, "MOST", 1.0)  # a small file: judge the spans, not the gain
    windows = [(17.0, 26.0), (0.0, 6.0), (34.0, 42.0)]  # a middle, the start, the end
    found = asyncio.run(Mp4SourceIndex().spans(source, windows))
    assert found is not None
    middle = found[0]
    size = source.stat().st_size
    assert sum(b - a for a, b in middle) < 0.5 * size  # 9 s of 40, the index and the opening
    reads = [(19, 20, 24), (0, 0, 4), (36, 37, 40)]  # each window's seek and trim
    for spans, (seek, start, end) in zip(found, reads, strict=True):
        part = sparse(source, spans, tmp_path / f"part-{seek}.mp4")
        expected = frames(source, seek, start, end)
        assert len(expected) == 30 * (end - start)
        assert frames(part, seek, start, end) == expected


def sound(path: Path) -> list[str]:
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", f"file:{path}",
         "-map", "0:a", "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stderr == ""
    return [line for line in out.stdout.splitlines() if not line.startswith("#")]


def test_the_sound_read_alone_decodes_as_the_whole_files(tmp_path: Path) -> None:
    """The audio chunk's read: the sound's runs between the picture's, and the boxes, in a
    file interleaved by the second (as editors write them); ffmpeg's own default interleaves
    by the frame, too many runs to read one by one: that sound is read whole."""
    source = clip(tmp_path / "film.mp4", "-b:v", "2M", "-chunk_duration", "1000000")
    spans = asyncio.run(Mp4SourceIndex().sound(source))
    assert spans is not None
    assert len(spans) < 50  # a run a second, the boxes
    assert sum(b - a for a, b in spans) < 0.25 * source.stat().st_size
    assert sound(sparse(source, spans, tmp_path / "sound.mp4")) == sound(source)
    fine = clip(tmp_path / "fine.mp4", "-b:v", "2M")
    assert asyncio.run(Mp4SourceIndex().sound(fine)) is None


def test_a_file_whose_index_is_not_read_is_read_whole(tmp_path: Path) -> None:
    mkv = clip(tmp_path / "film.mkv")
    fragmented = clip(tmp_path / "frag.mp4", "-movflags", "+frag_keyframe+empty_moov")
    for path in (mkv, fragmented):
        assert asyncio.run(Mp4SourceIndex().spans(path, [(10.0, 20.0)])) is None
        assert asyncio.run(Mp4SourceIndex().sound(path)) is None


def test_spans_that_would_save_little_read_the_file_whole(tmp_path: Path) -> None:
    source = clip(tmp_path / "film.mp4")
    assert asyncio.run(Mp4SourceIndex().spans(source, [(0.0, 38.0)])) is None
