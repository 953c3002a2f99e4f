"""A job's further destinations: the committed package copied, server-side, to each place a
request names beyond its output, and committed there too.

Why a copy of the committed package, not a second upload of the local files: the copy is made
from what the output's ``job.json`` commits, so every destination holds exactly that attempt's
files, and it needs no job directory. An attempt that adopts an earlier attempt's commit (its
worker died after the output's ``job.json``, before a destination's) has no local files, yet
finishes the destinations the same way, without encoding anything. S3 copies inside its own
network, with no bytes through the worker.

Each destination follows the commit protocol (:mod:`core.attempt.commit`): its files first,
then whatever an unfinished earlier copy left that this one did not write is removed, then
its own ``job.json``, written once, last: the result with every key moved under that
destination's prefix. A destination whose ``job.json`` exists is done and is not copied again.

The job completes only when every destination is committed: a copy that fails raises (a
storage error is retryable), the job is retried, and the next attempt adopts the output's
commit and copies what is missing. Every ``job.json`` lists all the destinations
(:func:`with_destinations`, before the first commit): they follow from the request, so each
copy says the same.
"""

from __future__ import annotations

import asyncio

import structlog

from core.attempt.commit import MARKER, JobCommit
from core.jobs.results import DestinationResult, JobResult, OutputFile, Rendition, output_key
from core.models import OutputLocation
from core.ports import ObjectStore

log = structlog.get_logger("ffapi.destinations")


def with_destinations(result: JobResult, further: tuple[OutputLocation, ...]) -> JobResult:
    """The result listing every place its package goes, the output first (none listed when
    the request named no further destination)."""
    if not further:
        return result
    places = [result.output, *further]
    return result.model_copy(update={"destinations": [_summary(result, p) for p in places]})


def relocate(result: JobResult, place: OutputLocation) -> JobResult:
    """The result as the copy at ``place`` tells it: every key under that place's prefix."""
    old, new = output_key(result.output, result.job_id, ""), output_key(place, result.job_id, "")

    def moved(key: str) -> str:
        return new + key[len(old) :] if key.startswith(old) else key

    def renditions(items: list[Rendition]) -> list[Rendition]:
        return [r.model_copy(update={"playlist": moved(r.playlist)}) for r in items]

    steps = [
        s.model_copy(update={
            "renditions": renditions(s.renditions),
            "playback": {k: moved(v) for k, v in s.playback.items()},
        })
        for s in result.steps
    ]  # fmt: skip
    outputs: list[OutputFile] = [o.model_copy(update={"key": moved(o.key)}) for o in result.outputs]
    return result.model_copy(
        update={
            "output": place,
            "outputs": outputs,
            "renditions": renditions(result.renditions),
            "playback": {k: moved(v) for k, v in result.playback.items()},
            "steps": steps,
        }
    )


def _summary(result: JobResult, place: OutputLocation) -> DestinationResult:
    moved = relocate(result, place)
    return DestinationResult(
        bucket=place.bucket,
        prefix=place.prefix,
        marker=output_key(place, result.job_id, MARKER),
        playback=moved.playback,
    )


class Destinations:
    """Copies a committed package to the result's further destinations, and commits each."""

    def __init__(self, objects: ObjectStore, commit: JobCommit, concurrency: int) -> None:
        self._objects = objects
        self._commit = commit
        self._slots = asyncio.Semaphore(max(1, concurrency))

    async def publish(self, result: JobResult) -> JobResult:
        """``result`` (committed at its output) once every further destination is committed."""
        for summary in result.destinations[1:]:
            place = OutputLocation(bucket=summary.bucket, prefix=summary.prefix)
            await self._publish_one(result, place)
        return result

    async def _publish_one(self, result: JobResult, place: OutputLocation) -> None:
        if await self._commit.committed(place, result.job_id) is not None:
            return  # an earlier attempt finished this one
        source = output_key(result.output, result.job_id, "")
        marker = source + MARKER
        # the output's prefix holds exactly the committed attempt's files (its commit pruned
        # the rest): what its job.json lists, segments and all
        keys = [
            k for k in await self._objects.list_keys(result.output.bucket, source) if k != marker
        ]
        written = [output_key(place, result.job_id, k[len(source) :]) for k in keys]

        async def copy(key: str, dest: str) -> None:
            async with self._slots:
                await self._objects.copy(result.output.bucket, key, place.bucket, dest)

        copies = [asyncio.create_task(copy(k, d)) for k, d in zip(keys, written, strict=True)]
        try:
            await asyncio.gather(*copies)
        except BaseException:  # the first failure is the attempt's; the other copies stop
            for task in copies:
                task.cancel()
            await asyncio.gather(*copies, return_exceptions=True)
            raise
        await self._commit.prune(place, result.job_id, written)
        await self._commit.commit(relocate(result, place))
        log.info("job.destination_committed", bucket=place.bucket, files=len(written))
