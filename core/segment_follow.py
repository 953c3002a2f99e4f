"""Media segments sent to the bucket while the encode still runs, so that the publish after
the checks has only the last ones left (the first step of segment-first publishing).

A segment is final once the muxer has begun the next one of its rendition: ``seg-3-00007.m4s``
when ``seg-3-00008.m4s`` is there (the dash muxer renames a finished segment into place, the
hls muxer writes in place: the rule holds for both). The last segment of each rendition, the
init segments (the language is written into an audio one after the pass), the playlists and
the pictures wait for the publish, which keeps its order: a manifest still goes up only
after everything it names.

What was sent is remembered with the file's size and write time, and the publish skips a
file only while it is still the one that was sent: another tier's pass writes its segments
again. A segment sent early by an attempt that then fails is what an interrupted publish
leaves too: overwritten or removed by the next attempt's commit, never listed by a
``job.json`` (:mod:`core.commit`). A failure to send early is not the job's: the publish
sends the file again.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from pathlib import Path

import structlog

from core.errors import FfapiError
from core.models import OutputLocation
from core.ports import FileStamp, LocalFiles
from core.publish import Publisher, Upload

log = structlog.get_logger("ffapi.publish")

_SEGMENT = re.compile(r"^(?P<stem>.*\D)(?P<number>\d+)\.(?P<ext>m4s|ts)$")
# How often the output directory is looked at: a segment lasts seconds.
FOLLOW_INTERVAL = 0.25


def final_segments(paths: Iterable[str]) -> list[str]:
    """The media segments among ``paths`` that the muxer has moved on from."""
    present = set(paths)
    final = []
    for path in sorted(present):
        found = _SEGMENT.match(path)
        if found is None or found["stem"].rsplit("/", 1)[-1].startswith("init"):
            continue
        width = len(found["number"])
        after = f"{found['stem']}{int(found['number']) + 1:0{width}d}.{found['ext']}"
        if after in present:
            final.append(path)
    return final


class SegmentFollower:
    def __init__(
        self, publisher: Publisher, files: LocalFiles, local: Path, location: OutputLocation,
        job_id: str, interval: float = FOLLOW_INTERVAL,
    ) -> None:  # fmt: skip
        self._publisher = publisher
        self._files = files
        self._local = local
        self._location = location
        self._job_id = job_id
        self._interval = interval
        self._sent: dict[str, FileStamp] = {}

    async def follow(self) -> None:
        """Send the finished segments as they appear, until cancelled."""
        while True:
            try:
                await self._send_finished()
            except (FfapiError, OSError) as exc:  # the publish sends them again
                log.info("publish.early_failed", error=type(exc).__name__)
            await asyncio.sleep(self._interval)

    async def unchanged(self) -> set[str]:
        """The files sent early that are still as they were sent."""
        stamps = await self._files.stamps(self._local)
        return {path for path, stamp in self._sent.items() if stamps.get(path) == stamp}

    async def _send_finished(self) -> None:
        stamps = await self._files.stamps(self._local)
        ready = [p for p in final_segments(stamps) if self._sent.get(p) != stamps[p]]
        if not ready:
            return
        await self._publisher.publish(
            self._local, self._location, self._job_id, [Upload(p, 0) for p in ready]
        )
        self._sent.update({p: stamps[p] for p in ready})
