"""Publishing a job's files in the order that makes every reader safe.

Tier by tier, each tier's uploads in parallel (bounded): segments and pictures, then media
playlists, then the master playlist and the MPD; the caller writes ``job.json`` last. A player
that can fetch a manifest can fetch everything it names.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.jobs import output_key
from core.models import OutputLocation
from core.plan import CACHE_IMMUTABLE, CACHE_MANIFEST, CONTENT_TYPES
from core.ports import ObjectStore

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


class Publisher:
    def __init__(self, objects: ObjectStore, concurrency: int = 8) -> None:
        self._objects = objects
        self._concurrency = concurrency

    async def publish(
        self, local: Path, location: OutputLocation, job_id: str, uploads: Sequence[Upload]
    ) -> None:
        gate = asyncio.Semaphore(self._concurrency)

        async def one(item: Upload) -> None:
            content_type, cache = headers_for(item.path)
            key = output_key(location, job_id, item.path)
            async with gate:
                await self._objects.upload_file(
                    local / item.path, location.bucket, key, content_type, cache
                )

        for tier in sorted({u.tier for u in uploads}):
            tasks = [asyncio.create_task(one(u)) for u in uploads if u.tier == tier]
            try:
                await asyncio.gather(*tasks)
            except BaseException:  # the first failure (a coded error) stands; stop the rest
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
