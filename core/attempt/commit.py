"""``job.json``, the job's commit marker: written once, last, over exactly its own files.

An attempt that finds the marker (an earlier attempt committed, then its worker died before
recording the outcome) adopts that result and encodes nothing. An attempt that does not find
it first removes whatever an earlier, unfinished attempt left under the job's prefix that this
one did not write (a GPU run with another segment count, a rung a refit dropped), so the
committed files are one attempt's, never a mix. The marker itself is a conditional write: of
two attempts racing to commit, one wins and the other adopts the winner's result.
"""

from __future__ import annotations

import json
from collections.abc import Collection

import structlog

from core.errors import StorageUnavailable
from core.jobs.results import JobResult, output_key
from core.models import OutputLocation
from core.ports import ObjectStore

log = structlog.get_logger("ffapi.commit")

MARKER = "job.json"
MAX_MARKER_BYTES = 4 * 1024**2  # a result lists files; megabytes of it is not ours


class JobCommit:
    def __init__(self, objects: ObjectStore, content_type: str, cache_control: str) -> None:
        self._objects = objects
        self._content_type = content_type
        self._cache_control = cache_control

    async def committed(self, out: OutputLocation, job_id: str) -> JobResult | None:
        """The result an earlier attempt committed, if one did."""
        body = await self._objects.get_bytes(
            out.bucket, output_key(out, job_id, MARKER), MAX_MARKER_BYTES
        )
        return JobResult.model_validate_json(body) if body is not None else None

    async def prune(self, out: OutputLocation, job_id: str, written: Collection[str]) -> None:
        """Remove the job's objects this attempt did not write (keys, as written)."""
        prefix = output_key(out, job_id, "")
        marker = output_key(out, job_id, MARKER)
        keep = set(written) | {marker}
        stale = [k for k in await self._objects.list_keys(out.bucket, prefix) if k not in keep]
        if stale:
            log.info("job.outputs_pruned", count=len(stale), first=stale[0])
            await self._objects.delete_keys(out.bucket, stale)

    async def commit(self, result: JobResult) -> JobResult:
        """Write the marker unless it exists; the result that stands either way."""
        out = result.output
        body = json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True).encode()
        key = output_key(out, result.job_id, MARKER)
        if await self._objects.put_new(
            body, out.bucket, key, self._content_type, self._cache_control
        ):
            return result
        winner = await self.committed(out, result.job_id)
        if winner is None:  # written and gone again in between: ours is as good as any
            raise StorageUnavailable(f"{key} exists but cannot be read yet")
        log.warning("job.commit_lost", reason="another attempt committed first; its result stands")
        return winner.model_copy(update={"attempt": result.attempt})
