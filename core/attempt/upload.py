"""Uploading a job's files in the order that makes every reader safe. (Events are
*published*, on SNS; files are *uploaded*, here.)

Tier by tier, each tier's uploads in parallel (bounded): segments and pictures, then media
playlists, then the master playlist and the MPD; the caller writes ``job.json`` last. A player
that can fetch a manifest can fetch everything it names. The media segments may go ahead
(:class:`UploadAhead`): each as the encoder finishes it (a
:class:`~core.streaming.segment_watch.SegmentSink`), the rest while the package is finished
and checked; they are withdrawn if the job fails, and stopped when a tier falls back.

Content-Type by suffix; Cache-Control ``immutable`` (a year) for media and pictures,
``max-age=60`` for manifests and text tracks, and ``no-cache`` for the JSON results.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.jobs.results import output_key
from core.media.plan import CACHE_IMMUTABLE, CACHE_MANIFEST, CONTENT_TYPES
from core.models import OutputLocation
from core.ports import ObjectStore
from core.streaming.segment_watch import LandedSegment

_IMMUTABLE_SUFFIXES = (".m4s", ".ts", ".jpg", ".png", ".webp", ".gif", ".mp4", ".mkv", ".mp3",
                       ".m4a", ".opus", ".flac", ".wav")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Upload:
    path: str  # relative to the local output directory and to the job's output prefix
    tier: int


def headers_for(path: str) -> tuple[str, str]:
    """(Content-Type, Cache-Control) by file type: media never changes under its name;
    manifests and text tracks are kept short so a re-published job is seen soon."""
    suffix = posixpath.splitext(path)[1].lower()
    content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
    return content_type, CACHE_IMMUTABLE if suffix in _IMMUTABLE_SUFFIXES else CACHE_MANIFEST


def is_media_segment(name: str) -> bool:
    """A rendition's media segment (``seg-0-00001.m4s``, ``hls/seg-0-00001.ts``): final
    once its encode is over. Init segments are not (an audio one gets its language)."""
    base = posixpath.basename(name)
    return base.startswith("seg-") and base.endswith((".m4s", ".ts"))


class Uploader:
    def __init__(self, objects: ObjectStore, concurrency: int = 8) -> None:
        self._objects = objects
        self._concurrency = concurrency

    def ahead(self, local: Path, location: OutputLocation, job_id: str) -> UploadAhead:
        return UploadAhead(self._objects, self._concurrency, local, location, job_id)

    async def upload(
        self, local: Path, location: OutputLocation, job_id: str, uploads: Sequence[Upload],
        ahead: UploadAhead | None = None,
    ) -> None:  # fmt: skip
        """``ahead``: the segments already on their way; each is waited for, not sent again."""
        sent = await ahead.settle() if ahead is not None else frozenset()
        gate = asyncio.Semaphore(self._concurrency)

        async def one(item: Upload) -> None:
            async with gate:
                await _put(self._objects, local, location, job_id, item.path)

        for tier in sorted({u.tier for u in uploads}):
            await _all_or_none([one(u) for u in uploads if u.tier == tier and u.path not in sent])


class UploadAhead:
    """A package's media segments (and a steps job's pictures), sent while the encode goes on
    (:meth:`landed`, told by the segment watch) and while the rest of the package is still
    being finished and checked (sheets, manifests, QC): over a network the upload then
    overlaps that work instead of following it. Each file is sent once per tier run.

    Nothing that names a segment (a playlist, the MPD, ``job.json``) is sent before the
    package has passed its checks, so no reader ever sees a half package; a job that fails
    anyway has its segments withdrawn (:meth:`withdraw`). A tier that failed has its
    uploads stopped before its files are cleared (:meth:`halt`)."""

    def __init__(
        self, objects: ObjectStore, concurrency: int, local: Path, location: OutputLocation,
        job_id: str,
    ) -> None:  # fmt: skip
        self._objects = objects
        self._gate = asyncio.Semaphore(concurrency)
        self._local, self._location, self._job_id = local, location, job_id
        self._tasks: list[asyncio.Task[None]] = []
        self._queued: dict[str, asyncio.Task[None]] = {}  # this tier run's, by path
        # paths relative to ``local``: begun and sent by this attempt; begun by any (a
        # request cut short may still have landed: withdrawn all the same)
        self._sent: set[str] = set()
        self._begun: set[str] = set()

    def send(self, out: Path, names: Iterable[str]) -> None:
        """Start sending the media segments among ``names`` (files under ``out``, a
        directory at or below ``local``)."""
        self.send_files(
            (out / name).relative_to(self._local).as_posix() for name in names
            if is_media_segment(name)
        )  # fmt: skip

    def send_files(self, paths: Iterable[str]) -> None:
        """Start sending files that are final as they are (paths relative to ``local``): a
        step's frames, preview, scenes once the main pass is over."""
        for path in paths:
            if path not in self._queued and path not in self._sent:
                self._queued[path] = task = asyncio.create_task(self._one(path))
                self._tasks.append(task)

    def kept(self, paths: Iterable[str]) -> None:
        """Files an earlier attempt left in the bucket, published as they are (a resumed
        attempt's kept segments): never sent again, withdrawn with the rest."""
        self._sent.update(paths)
        self._begun.update(self._sent)

    async def landed(self, segments: Sequence[LandedSegment]) -> None:
        """Segments the encoder finished (paths relative to the job's output directory, which
        is ``local``): each starts on its way at once, in the background."""
        self.send_files(segment.path for segment in segments)

    async def delivered(self, paths: Iterable[str]) -> None:
        """Wait until those of ``paths`` that were sent are in the bucket (a failure stands)."""
        await asyncio.gather(*(self._queued[p] for p in paths if p in self._queued))

    async def _one(self, path: str) -> None:
        async with self._gate:
            self._begun.add(path)
            await _put(self._objects, self._local, self._location, self._job_id, path)
        self._sent.add(path)

    async def settle(self) -> frozenset[str]:
        """Wait for every segment sent; the first failure stands. What was sent."""
        tasks, self._tasks = self._tasks, []
        await _all_or_none(tasks)
        return frozenset(self._sent)

    async def halt(self) -> None:
        """Stop what is still being sent; what was begun is kept in mind, to withdraw."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sent = set()
        self._queued = {}  # the next tier's segments go again, under the same names

    @property
    def sent_any(self) -> bool:
        return bool(self._tasks or self._begun)

    async def withdraw(self) -> None:
        """Stop, and delete every file any attempt began to send."""
        await self.halt()
        keys = sorted(output_key(self._location, self._job_id, p) for p in self._begun)
        if keys:
            await self._objects.delete_keys(self._location.bucket, keys)
        self._begun = set()


async def _put(
    objects: ObjectStore, local: Path, location: OutputLocation, job_id: str, path: str
) -> None:
    content_type, cache = headers_for(path)
    key = output_key(location, job_id, path)
    await objects.upload_file(local / path, location.bucket, key, content_type, cache)


async def _all_or_none(work: Sequence[Awaitable[None]]) -> None:
    """Run them together; on the first failure (a coded error, which stands) stop the rest."""
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
