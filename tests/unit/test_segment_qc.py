"""core.streaming.segment_qc: each landed CMAF segment checked from its boxes: a segment not
starting on a keyframe, a gap or overlap, a duration its playlist does not state, audio slipped
from the video, each fail the job with QcFailed naming the segment; sound segments pass; TS
segments are left to the whole-package QC."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.errors import QcFailed
from core.streaming.segment_qc import SegmentCheck
from core.streaming.segment_watch import LandedSegment
from tests.unit.fmp4_boxes import NON_SYNC, init_segment, media_segment

OUT = Path("/w/out")
VIDEO_SCALE, AUDIO_SCALE = 15360, 48000
FRAME = 512  # ticks of a 30 fps frame at 15360


class Files:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {
            "cmaf/init-0.m4s": init_segment(VIDEO_SCALE, b"vide"),
            "cmaf/init-1.m4s": init_segment(AUDIO_SCALE, b"soun"),
        }

    async def read_bytes(self, path: Path) -> bytes:
        return self.data[path.relative_to(OUT).as_posix()]


def landed(files: Files, rep: int, index: int, data: bytes, start: float, duration: float,
           ext: str = "m4s") -> LandedSegment:  # fmt: skip
    path = f"cmaf/seg-{rep}-{index + 1:05d}.{ext}"
    files.data[path] = data
    init = f"cmaf/init-{rep}.m4s" if ext == "m4s" else None
    return LandedSegment(f"cmaf/media_{rep}.m3u8", path, init, index, start, duration, len(data))


def video(files: Files, index: int, frames: int = 120, *, at: int | None = None,
          first: int = 0x02000000) -> LandedSegment:  # fmt: skip
    start = index * 120 * FRAME if at is None else at
    data = media_segment(start, [FRAME] * frames, first)
    return landed(files, 0, index, data, index * 4.0, frames / 30)


def audio(files: Files, index: int, start_ticks: int, frames: int) -> LandedSegment:
    data = media_segment(start_ticks, [1024] * frames)
    return landed(files, 1, index, data, start_ticks / AUDIO_SCALE, frames * 1024 / AUDIO_SCALE)


def check(files: Files, *batches: list[LandedSegment]) -> None:
    sink = SegmentCheck(files, OUT)  # type: ignore[arg-type]

    async def go() -> None:
        for batch in batches:
            await sink.landed(batch)

    asyncio.run(go())


def test_a_sound_package_passes_as_ffmpeg_cuts_it() -> None:
    files = Files()
    # the audio cut ahead of the video's keyframe by the muxer's interleaving (as measured)
    check(files, [video(files, 0), audio(files, 0, 0, 186)],
          [video(files, 1), audio(files, 1, 190464, 187)],
          [video(files, 2, 60), audio(files, 2, 381952, 100)])  # fmt: skip


def test_a_video_segment_not_starting_on_a_keyframe_fails() -> None:
    files = Files()
    with pytest.raises(QcFailed) as failed:
        check(files, [video(files, 0), video(files, 1, first=NON_SYNC)])
    assert failed.value.details == {"segment": "cmaf/seg-0-00002.m4s", "check": "keyframes",
                                    "detail": "does not start on a keyframe"}  # fmt: skip


def test_a_gap_fails() -> None:
    files = Files()
    with pytest.raises(QcFailed, match=r"seg-0-00002\.m4s failed QC: timeline: a gap"):
        check(files, [video(files, 0)], [video(files, 1, at=120 * FRAME + FRAME)])


def test_an_overlap_fails() -> None:
    files = Files()
    with pytest.raises(QcFailed, match=r"timeline: an overlap of 0\.033333 s"):
        check(files, [video(files, 0)], [video(files, 1, at=119 * FRAME)])


def test_a_duration_the_playlist_does_not_state_fails() -> None:
    files = Files()
    segment = video(files, 0)
    wrong = LandedSegment(segment.playlist, segment.path, segment.init, 0, 0.0, 4.1, 1)
    with pytest.raises(QcFailed) as failed:
        check(files, [wrong])
    assert failed.value.details is not None
    assert failed.value.details["check"] == "durations"


def test_audio_slipping_from_the_video_fails() -> None:
    files = Files()
    long = 197 * 1024  # 4.203 s of sound a segment against 4 s of picture
    with pytest.raises(QcFailed, match=r"seg-1-00002\.m4s failed QC: av_drift: starts 203 ms"):
        check(files, [video(files, 0), audio(files, 0, 0, 197)],
              [video(files, 1), audio(files, 1, long, 197)], [video(files, 2)])  # fmt: skip


def test_tracks_that_begin_apart_are_left_to_the_package_qc() -> None:
    files = Files()
    late = 9600  # the sound's first segment starts 200 ms after the picture's, and stays so
    second = audio(files, 1, late + 187 * 1024, 187)
    check(files, [video(files, 0), audio(files, 0, late, 187)], [video(files, 1), second],
          [video(files, 2)])  # fmt: skip


def test_audio_ahead_of_its_video_waits_for_it() -> None:
    files = Files()
    check(files, [audio(files, 0, 0, 187)], [audio(files, 1, 191488, 187)],
          [video(files, 0), video(files, 1)])  # fmt: skip


def test_mpeg_ts_segments_are_left_to_the_package_qc() -> None:
    files = Files()
    check(files, [landed(files, 0, 0, b"\x47" * 188, 0.0, 6.0, "ts")])
