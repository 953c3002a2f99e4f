"""core.streaming.segment_watch: segments told once each, in playlist order, as growing
playlists (a fake LocalFiles, written tick by tick) name them; missing playlists tolerated; a
sink's error stops the encode."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path, PurePosixPath

import pytest

from core.media.probe import AudioStream, ProbeResult, VideoStream
from core.presets import StreamingPreset, builtin_catalog
from core.streaming.renditions import StreamingPlan, plan_streaming
from core.streaming.segment_watch import LandedSegment, SegmentWatch, watched

OUT = Path("/w/out")
MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_A1",NAME="audio_0",DEFAULT=YES,URI="media_1.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,AUDIO="group_A1"
media_0.m3u8
"""


def plan() -> StreamingPlan:
    preset = builtin_catalog().presets["web-hls"]
    assert isinstance(preset, StreamingPreset)
    video = VideoStream(
        codec="h264",
        width=640,
        height=360,
        fps=25.0,
        rotation=0,
        sample_aspect=Fraction(1),
        pix_fmt="yuv420p",
        duration=12.0,
    )
    audio = AudioStream(codec="aac", channels=2, sample_rate=48000, index=1)
    probe = ProbeResult(format_name="mov", duration=12.0, size=1, video=video, audio=audio)
    return plan_streaming(preset, probe, PurePosixPath("/w/in/s"), PurePosixPath(OUT))


def media(rep: int, durations: Sequence[float], *, ended: bool = False) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:4",
             f'#EXT-X-MAP:URI="init-{rep}.m4s"']  # fmt: skip
    for n, seconds in enumerate(durations, 1):
        lines += [f"#EXTINF:{seconds:.3f},", f"seg-{rep}-{n:05d}.m4s"]
    return "\n".join([*lines, *(["#EXT-X-ENDLIST"] if ended else [])]) + "\n"


class GrowingFiles:
    """A package directory as ffmpeg leaves it between two ticks."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}  # relative to OUT
        self.reads = 0

    def put(self, name: str, text: str = "x") -> None:
        self.files[f"cmaf/{name}"] = text

    async def read_text(self, path: Path) -> str:
        self.reads += 1
        try:
            return self.files[path.relative_to(OUT).as_posix()]
        except KeyError:
            raise FileNotFoundError(path) from None

    async def sizes(self, root: Path) -> dict[str, int]:
        prefix = root.relative_to(OUT).as_posix() + "/"
        if not any(k.startswith(prefix) for k in self.files):
            raise FileNotFoundError(root)
        return {k[len(prefix) :]: len(v) for k, v in self.files.items() if k.startswith(prefix)}


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[LandedSegment]] = []

    async def landed(self, segments: Sequence[LandedSegment]) -> None:
        self.batches.append(list(segments))

    @property
    def paths(self) -> list[str]:
        return [s.path for batch in self.batches for s in batch]


def test_segments_are_told_once_in_order_with_their_start_times() -> None:
    files, sink = GrowingFiles(), Recorder()
    watch = SegmentWatch(files, OUT, plan(), [sink])  # type: ignore[arg-type]

    async def go() -> None:
        assert await watch.tick() == []  # no package directory yet
        files.put("init-0.m4s")
        files.put("seg-0-00001.m4s.tmp")
        assert await watch.tick() == []  # no master yet
        files.put("seg-0-00001.m4s", "a" * 10)
        files.put("master.m3u8", MASTER)
        files.put("media_0.m3u8", media(0, [4.0]))
        await watch.tick()  # media_1.m3u8 not written yet: no matter
        files.put("seg-0-00002.m4s", "b" * 20)
        files.put("seg-1-00001.m4s", "c" * 5)
        files.put("media_0.m3u8", media(0, [4.0, 4.0]))
        files.put("media_1.m3u8", media(1, [4.011]))
        await watch.tick()
        await watch.tick()  # nothing new: nothing told
        files.put("seg-0-00003.m4s", "d")
        files.put("media_0.m3u8", media(0, [4.0, 4.0, 2.5], ended=True))
        await watch.drain()

    asyncio.run(go())
    assert sink.paths == ["cmaf/seg-0-00001.m4s", "cmaf/seg-0-00002.m4s", "cmaf/seg-1-00001.m4s",
                          "cmaf/seg-0-00003.m4s"]  # fmt: skip
    assert len(sink.batches) == 3
    last = sink.batches[-1][0]
    assert last == LandedSegment(
        playlist="cmaf/media_0.m3u8", path="cmaf/seg-0-00003.m4s", init="cmaf/init-0.m4s",
        index=2, start=8.0, duration=2.5, size=1,
    )  # fmt: skip
    assert sink.batches[1][0].size == 20
    assert sink.batches[1][1].index == 0


def test_a_segment_named_before_its_rename_is_seen_waits_for_a_later_tick() -> None:
    files, sink = GrowingFiles(), Recorder()
    watch = SegmentWatch(files, OUT, plan(), [sink])  # type: ignore[arg-type]
    files.put("master.m3u8", MASTER)
    files.put("seg-0-00001.m4s")
    files.put("media_0.m3u8", media(0, [4.0, 4.0]))  # the second one not listed by sizes yet

    asyncio.run(watch.tick())
    files.put("seg-0-00002.m4s")
    asyncio.run(watch.tick())
    assert [[s.index for s in b] for b in sink.batches] == [[0], [1]]
    assert sink.batches[1][0].start == 4.0


def test_sinks_are_told_in_order_and_a_sink_error_stops_the_encode() -> None:
    files, told = GrowingFiles(), Recorder()
    files.put("master.m3u8", MASTER)
    files.put("seg-0-00001.m4s")
    files.put("media_0.m3u8", media(0, [4.0]))
    stopped = asyncio.Event()

    class Refusing:
        async def landed(self, segments: Sequence[LandedSegment]) -> None:
            raise ValueError(segments[0].path)

    async def encode() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            stopped.set()

    watch = SegmentWatch(files, OUT, plan(), [told, Refusing()], interval=0.01)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seg-0-00001"):
        asyncio.run(watched(watch, encode()))
    assert stopped.is_set()
    assert told.paths == ["cmaf/seg-0-00001.m4s"]


def test_after_the_encode_the_watch_drains_and_the_result_stands() -> None:
    files, sink = GrowingFiles(), Recorder()
    files.put("master.m3u8", MASTER)

    async def encode() -> str:
        await asyncio.sleep(0.05)
        files.put("seg-0-00001.m4s")
        files.put("media_0.m3u8", media(0, [4.0], ended=True))  # the last write, then exit
        return "log"

    watch = SegmentWatch(files, OUT, plan(), [sink], interval=10)  # type: ignore[arg-type]
    assert asyncio.run(watched(watch, encode())) == "log"
    assert sink.paths == ["cmaf/seg-0-00001.m4s"]


def test_an_encode_error_stands_and_nothing_more_is_told() -> None:
    files, sink = GrowingFiles(), Recorder()

    async def encode() -> None:
        await asyncio.sleep(0.01)  # after the watch's first tick: its last one is not had
        files.put("master.m3u8", MASTER)
        files.put("seg-0-00001.m4s")
        files.put("media_0.m3u8", media(0, [4.0]))
        raise RuntimeError("ffmpeg failed")

    watch = SegmentWatch(files, OUT, plan(), [sink], interval=10)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="ffmpeg failed"):
        asyncio.run(watched(watch, encode()))
    assert sink.paths == []


def test_an_unchanged_playlist_is_not_read_again_and_a_grown_one_from_its_tail() -> None:
    files, sink = GrowingFiles(), Recorder()
    watch = SegmentWatch(files, OUT, plan(), [sink])  # type: ignore[arg-type]
    files.put("master.m3u8", MASTER)
    for n in range(1, 4):
        files.put(f"seg-0-{n:05d}.m4s")
    files.put("media_0.m3u8", media(0, [4.0, 4.0]))

    async def go() -> int:
        await watch.tick()
        reads = files.reads
        await watch.tick()
        await watch.tick()
        unchanged = files.reads - reads
        files.put("media_0.m3u8", media(0, [4.0, 4.0, 3.0], ended=True))
        await watch.tick()
        return unchanged

    assert asyncio.run(go()) == 0
    assert [(s.index, s.start, s.duration, s.init) for b in sink.batches for s in b] == [
        (0, 0.0, 4.0, "cmaf/init-0.m4s"), (1, 4.0, 4.0, "cmaf/init-0.m4s"),
        (2, 8.0, 3.0, "cmaf/init-0.m4s"),
    ]  # fmt: skip
