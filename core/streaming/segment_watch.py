"""Segments as the encoder finishes them: the package directory watched while ffmpeg runs.

ffmpeg's muxers write each media segment under a temporary name (``seg-0-00001.m4s.tmp``)
and rename it when it is complete, then rewrite the media playlists (again through a
temporary file): a segment a playlist names is final. :class:`SegmentWatch` reads the master
playlist (once it exists) and every media playlist it names, a few times a second, and tells
its sinks of the segments newly listed: the upload sends them, the per-segment QC checks
them, while the encode goes on. A playlist not written yet, or caught mid-rename, is read on
a later tick; the last tick (:meth:`SegmentWatch.drain`) comes after ffmpeg exited.

:func:`watched` is the lifecycle: the watch runs beside the encode; a sink's error (a
segment failing QC, an upload refused) stops the encode and is the job's error; after the
encode the watch drains, so every segment is told exactly once, in playlist order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from core.ports import LocalFiles
from core.streaming.playlists import read_master, read_media, resolve

if TYPE_CHECKING:
    from core.streaming.renditions import StreamingPlan

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LandedSegment:
    """A media segment the encoder has finished: final under its name, named by its playlist."""

    playlist: str  # its media playlist, relative to the job's output dir: "cmaf/media_0.m3u8"
    path: str  # the segment, relative to the job's output dir: "cmaf/seg-0-00001.m4s"
    init: str | None  # its init segment (CMAF), relative to the output dir: "cmaf/init-0.m4s"
    index: int  # 0-based position in its playlist
    start: float  # seconds from the start of the presentation (sum of earlier durations)
    duration: float  # seconds, as the playlist's EXTINF says
    size: int  # bytes


class SegmentSink(Protocol):
    """Told of segments as they land, in playlist order per playlist (a batch per tick)."""

    async def landed(self, segments: Sequence[LandedSegment]) -> None: ...


@dataclass(slots=True)
class _Progress:
    """What has been told of one media playlist."""

    told: int = 0  # segments told
    start: float = 0.0  # where the next one starts
    size: int = -1  # the playlist's size when last read: unchanged, not read again
    init: str | None = None  # its init segment, from the first reading
    last_uri: str = ""  # the last segment told, as the playlist writes it


class SegmentWatch:
    """Polls the package directory (``out``: the job's output directory) while ffmpeg runs
    and tells ``sinks`` of each segment once, in order; the sinks are awaited one after
    another, and a sink's error is the watch's."""

    def __init__(
        self, files: LocalFiles, out: Path, plan: StreamingPlan, sinks: Sequence[SegmentSink],
        interval: float = 0.25,
    ) -> None:  # fmt: skip
        self._files = files
        self._out = out
        self._plan = plan
        self._sinks = tuple(sinks)
        self._interval = interval
        self._media: tuple[str, ...] = ()  # the master's media playlists, once read
        self._progress: dict[str, _Progress] = {}
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Tick until cancelled, or until :meth:`stop` (then after the tick under way: a
        batch is never cut off in a sink)."""
        while not self._stopping.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    def stop(self) -> None:
        """Let :meth:`run` end after its tick under way."""
        self._stopping.set()

    async def drain(self) -> None:
        """The last tick, after ffmpeg exited: the segments its last playlists added."""
        await self.tick()

    async def tick(self) -> list[LandedSegment]:
        """Read the playlists once; tell the sinks of what is new. What was told."""
        landed = await self._newly_listed()
        if landed:
            for sink in self._sinks:
                await sink.landed(landed)
        return landed

    async def _newly_listed(self) -> list[LandedSegment]:
        sizes = await self._sizes()
        if not self._media:
            self._media = await self._read_master(sizes)
        landed: list[LandedSegment] = []
        for playlist in self._media:
            if playlist in sizes:
                landed += await self._read_playlist(playlist, sizes)
        return landed

    async def _sizes(self) -> dict[str, int]:
        """The package directory's files, by their path relative to ``out``."""
        package = self._plan.package_dir
        try:
            found = await self._files.sizes(self._out / package)
        except FileNotFoundError:  # not made yet
            return {}
        return {f"{package}/{name}": size for name, size in found.items()}

    async def _read_master(self, sizes: dict[str, int]) -> tuple[str, ...]:
        master = self._plan.master
        text = await self._read(master) if master in sizes else None
        if not text:
            return ()
        try:
            uris = read_master(text).media_uris
        except ValueError:  # caught half written (a muxer without a temporary file)
            return ()
        return tuple(resolve(master, uri) for uri in uris)

    async def _read_playlist(self, playlist: str, sizes: dict[str, int]) -> list[LandedSegment]:
        progress = self._progress.setdefault(playlist, _Progress())
        if sizes[playlist] == progress.size:
            return []  # not rewritten since: nothing new
        text = await self._read(playlist)
        if not text:
            return []
        try:
            parsed = read_media(playlist, _untold(text, progress))
        except ValueError:
            return []
        progress.size = sizes[playlist]
        if progress.told == 0:
            progress.init = resolve(playlist, parsed.init) if parsed.init else None
        landed = []
        for index, (uri, duration) in enumerate(parsed.segments, progress.told):
            path = resolve(playlist, uri)
            if path not in sizes:  # named before this tick's listing saw it: next tick
                progress.size = -1  # read again
                break
            segment = LandedSegment(
                playlist, path, progress.init, index, progress.start, duration, sizes[path]
            )
            landed.append(segment)
            progress.told, progress.last_uri = index + 1, uri
            progress.start = segment.start + duration
        return landed

    async def _read(self, path: str) -> str | None:
        try:
            return await self._files.read_text(self._out / path)
        except FileNotFoundError:  # renamed away between the listing and the read
            return None


def _untold(text: str, progress: _Progress) -> str:
    """The playlist from after its last segment told: a long job's playlist holds thousands,
    and parsing it whole on every segment would cost the encode a core's worth of time."""
    if not progress.told:
        return text
    end = f"\n{progress.last_uri}\n"
    text += "\n"
    at = text.rfind(end)
    if at < 0:  # not grown from what was told (no muxer does that): the finish sends it all
        raise ValueError(f"{progress.last_uri} is no longer listed")
    return "#EXTM3U\n" + text[at + len(end) :]


async def watched(watch: SegmentWatch, encode: Awaitable[T]) -> T:
    """``encode`` with ``watch`` running beside it: a sink's error stops the encode and
    stands; an encode's error stops the watch and stands; after a clean encode the watch
    drains (the last segments told), then the encode's result is returned."""
    encoding = asyncio.ensure_future(encode)
    watching = asyncio.create_task(watch.run())
    try:
        await asyncio.wait((encoding, watching), return_when=asyncio.FIRST_COMPLETED)
        if watching.done():  # only by a sink's error: the encode is stopped, the error stands
            encoding.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await encoding
            watching.result()
        result = encoding.result()
        watch.stop()  # the tick under way finishes (its sinks told whole), then the last one
        await watching
    finally:
        for task in (encoding, watching):
            task.cancel()
        await asyncio.gather(encoding, watching, return_exceptions=True)
    await watch.drain()
    return result
