"""Packages whose manifests state exactly what they hold, checked from the outside on real
ffmpeg output: the published master.m3u8 and media playlists parsed with ``m3u8``, the
manifest.mpd with ``mpegdash``, the sizes of the published files, and the decoded storyboard.

The source is five whole segments of 59.94 fps picture (1200 frames, 20.02 s) and sound:
where the muxer cut a runt audio segment after the last video cut (53 ms after a 20 s
picture at 30 fps), with video segments of 4.004 s and AAC segments of 1024-sample frames
that the muxer's stated 4.0 s did not cover.
"""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from core.streaming.pictures import StoryboardPlan
from core.streaming.storyboard import sheets_argvs

from .conftest import Stack
from .test_streaming import dash_files, hls_files, publish

pytestmark = pytest.mark.integration
FRAMES = 1200  # 5 x 240: five 4.004 s segments
NTSC = "60000/1001"
CUE = re.compile(r"^(storyboard-\d{3}\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)$")
ISO_SECONDS = re.compile(r"^PT(\d+(?:\.\d+)?)S$")


@pytest.fixture(scope="module")
def ntsc_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """864x486 (two rungs: 480p and 360p), 59.94 fps, 20.02 s, with 48 kHz AAC."""
    out = tmp_path_factory.mktemp("ntsc") / "ntsc-20s.mp4"
    seconds = FRAMES * 1001 / 60000
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=864x486:rate={NTSC}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-frames:v", str(FRAMES), "-c:v", "libx264", "-preset", "ultrafast", "-g", "60",
         "-c:a", "aac", "-b:a", "128k", "-ac", "2", str(out)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return out


def peak_rate(playlist: Any, folder: Path) -> float:
    """RFC 8216's peak segment bit rate, written here apart from the worker's: the densest
    run of consecutive segments lasting between 0.5 and 1.5 target durations."""
    bits = [8 * (folder / s.uri).stat().st_size for s in playlist.segments]
    seconds = [s.duration for s in playlist.segments]
    low, high = 0.5 * playlist.target_duration, 1.5 * playlist.target_duration
    rates = [
        sum(bits[i:j]) / sum(seconds[i:j])
        for i in range(len(bits))
        for j in range(i + 1, len(bits) + 1)
        if low <= sum(seconds[i:j]) <= high
    ]
    peak: float = max(rates)
    return peak


def iso_seconds(value: str) -> float:
    match = ISO_SECONDS.match(value)
    assert match, value
    return float(match.group(1))


def sheet_size(path: Path) -> tuple[int, int]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    width, height = out.strip().split(",")
    return int(width), int(height)


def check_cues_on_their_sheets(vtt: str, folder: Path) -> int:
    """Every cue's xywh lies inside the decoded sheet it names; returns the count of cues."""
    assert vtt.startswith("WEBVTT")
    cues = [CUE.match(line) for line in vtt.splitlines() if "#xywh=" in line]
    for cue in cues:
        assert cue is not None
        x, y, w, h = (int(v) for v in cue.groups()[1:])
        width, height = sheet_size(folder / cue.group(1))
        assert x + w <= width
        assert y + h <= height
    return len(cues)


def test_a_20s_ntsc_package_states_exactly_what_it_holds(
    stack: Stack, ntsc_clip: Path, tmp_path: Path
) -> None:
    pub = publish(stack, ntsc_clip, "web-hls", tmp_path)
    package = pub.local / "cmaf"
    master, medias = hls_files(pub, "cmaf/master.m3u8")
    (audio_uri,) = [m.uri for m in master.media if m.type == "AUDIO"]
    audio = medias[audio_uri]
    videos = {p.uri: medias[p.uri] for p in master.playlists}
    assert len(videos) == 2

    # The audio is cut where the video is: as many segments, none a runt, each starting
    # within a few AAC frames (and the video's B-frame delay) of the video's.
    for video in videos.values():
        assert len(audio.segments) == len(video.segments)
        starts_a = [sum(s.duration for s in audio.segments[:n]) for n in range(len(audio.segments))]
        starts_v = [sum(s.duration for s in video.segments[:n]) for n in range(len(video.segments))]
        assert all(abs(a - v) < 0.1 for a, v in zip(starts_a, starts_v, strict=True))
    assert min(s.duration for s in audio.segments) > 0.5 * audio.target_duration

    # Each variant: its video's peak and the audio's, measured on the published files.
    audio_peak = peak_rate(audio, package)
    for variant in master.playlists:
        expected = peak_rate(videos[variant.uri], package) + audio_peak
        assert abs(variant.stream_info.bandwidth - expected) <= 2, variant.uri

    # The MPD: the same figures per representation, durations no shorter than the segments,
    # and no bitstream switching between rungs that each have their own init segment.
    mpd = MPEGDASHParser.parse(str(package / "manifest.mpd"))
    reps = dash_files(package / "manifest.mpd")
    by_init = {(p.segment_map[0].uri if p.segment_map else None): p for p in medias.values()}
    for names, _, rep in reps.values():
        assert abs(rep.bandwidth - peak_rate(by_init[names[0]], package)) <= 1, rep.id
    longest = max(d for _, seconds, _ in reps.values() for d in seconds)
    assert longest > 4.0  # what the muxer's PT4.0S understated
    assert longest <= iso_seconds(mpd.max_segment_duration) < longest + 0.001
    total = max(sum(seconds) for _, seconds, _ in reps.values())
    assert total <= iso_seconds(mpd.media_presentation_duration) < total + 0.001
    sets = {a.content_type: a for a in mpd.periods[0].adaptation_sets}
    assert len(sets["video"].representations) == 2
    assert sets["video"].bitstream_switching is None

    # QC judged the rungs' bitrates, and the storyboard sheet is four tiles, not ten by ten.
    assert "bitrates" in [c["name"] for c in pub.data["qc"]["checks"]]
    assert pub.data["qc"]["passed"]
    thumbs = pub.local / "thumbnails"
    assert sheet_size(thumbs / "storyboard-001.jpg") == (4 * 160, 90)
    assert check_cues_on_their_sheets((thumbs / "storyboard.vtt").read_text(), thumbs) == 4
    assert m3u8.load(str(package / audio_uri)).is_endlist


def test_sheets_are_sized_to_their_tiles_and_keep_them_in_order(tmp_path: Path) -> None:
    """23 tiles on sheets of 10x2: one full 1600x180 sheet, then 480x90 for the last three,
    each tile where the VTT's coordinates say (told apart by their grey level)."""
    tiles = tmp_path / ".storyboard-tiles"
    tiles.mkdir()
    (tmp_path / "thumbnails").mkdir()
    for i in range(1, 24):
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=0x{10 * i:02x}{10 * i:02x}"
             f"{10 * i:02x}:size=160x90", "-frames:v", "1", "-q:v", "2",
             str(tiles / f"tile-{i:05d}.jpg")],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    board = StoryboardPlan(
        pattern="thumbnails/storyboard-%03d.jpg",
        tiles=".storyboard-tiles/tile-%05d.jpg",
        vtt="thumbnails/storyboard.vtt",
        every_frames=150,
        every_seconds=5.0,
        tile_width=160,
        tile_height=90,
        columns=10,
        rows=2,
    )
    for argv in sheets_argvs(board, PurePosixPath(tmp_path), 23):
        subprocess.run(argv, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    sheets = sorted(p.name for p in (tmp_path / "thumbnails").iterdir())
    assert sheets == ["storyboard-001.jpg", "storyboard-002.jpg"]
    first, last = tmp_path / "thumbnails" / sheets[0], tmp_path / "thumbnails" / sheets[1]
    assert sheet_size(first) == (1600, 180)
    assert sheet_size(last) == (480, 90)
    for sheet, slot, tile in [(first, 0, 1), (first, 19, 20), (last, 0, 21), (last, 2, 23)]:
        x, y = (slot % 10) * 160, (slot // 10) * 90
        assert math.isclose(grey(sheet, x, y), 10 * tile, abs_tol=4), (sheet.name, slot)


def grey(sheet: Path, x: int, y: int) -> float:
    """The mean luma of the tile at (x, y), its edges left out (JPEG blurs them)."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(sheet), "-vf", f"crop=120:50:{x + 20}:{y + 20}",
         "-pix_fmt", "gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    return sum(raw) / len(raw)
