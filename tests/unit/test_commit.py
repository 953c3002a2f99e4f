"""job.json as the commit marker: adopted when present, written once, over one attempt's files."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from core.attempt.commit import JobCommit
from core.jobs.results import JobResult, SourceInfo
from core.models import OutputLocation, S3ObjectRef

from .fakes import NOW

OUT = OutputLocation(bucket="ffapi-output", prefix="outputs")


class Bucket:
    """Just the object calls JobCommit makes, on a dict."""

    def __init__(self, objects: dict[str, bytes] | None = None) -> None:
        self.objects = dict(objects or {})
        self.deleted: list[str] = []

    async def put_new(
        self, data: bytes, bucket: str, key: str, content_type: str, cache: str | None
    ) -> bool:
        if key in self.objects:
            return False
        self.objects[key] = data
        return True

    async def get_bytes(self, bucket: str, key: str, limit: int) -> bytes | None:
        return self.objects.get(key)

    async def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    async def delete_keys(self, bucket: str, keys: Sequence[str]) -> None:
        for key in keys:
            self.deleted.append(key)
            del self.objects[key]


def result(attempt: int = 1, encoder: str = "libx264") -> JobResult:
    return JobResult(
        job_id="j-1",
        input=S3ObjectRef(bucket="ffapi-input", key="a.mp4"),
        preset="mp4-720p",
        output=OUT,
        source=SourceInfo(format="mov", duration=1.0, size=1),
        outputs=[],
        encoder=encoder,
        attempt=attempt,
        started_at=NOW,
        completed_at=NOW,
    )


def commit(bucket: Bucket) -> JobCommit:
    return JobCommit(bucket, "application/json", "no-cache")  # type: ignore[arg-type]


def test_nothing_committed_yet_then_written_once() -> None:
    bucket = Bucket()
    assert asyncio.run(commit(bucket).committed(OUT, "j-1")) is None
    assert asyncio.run(commit(bucket).commit(result())) == result()
    assert asyncio.run(commit(bucket).committed(OUT, "j-1")) == result()


def test_the_first_commit_stands_and_a_later_attempt_adopts_it() -> None:
    bucket = Bucket()
    asyncio.run(commit(bucket).commit(result(attempt=1, encoder="h264_nvenc")))
    stands = asyncio.run(commit(bucket).commit(result(attempt=2, encoder="libx264")))
    assert stands.encoder == "h264_nvenc"  # the winner's files are the ones published
    assert stands.attempt == 2  # ...recorded by the attempt that holds the claim now


def test_prune_removes_only_what_this_attempt_did_not_write() -> None:
    bucket = Bucket(
        {
            "outputs/j-1/cmaf/v0/seg_1.m4s": b"new",
            "outputs/j-1/cmaf/v0/seg_9.m4s": b"old",
            "outputs/j-1/job.json": b"{}",
            "outputs/j-10/video.mp4": b"another job",
            "outputs/j-1/probe.json": b"{}",
        }
    )
    written = ["outputs/j-1/cmaf/v0/seg_1.m4s", "outputs/j-1/probe.json"]
    asyncio.run(commit(bucket).prune(OUT, "j-1", written))
    assert bucket.deleted == ["outputs/j-1/cmaf/v0/seg_9.m4s"]  # never the marker, never j-10


def test_prune_with_nothing_stale_deletes_nothing() -> None:
    bucket = Bucket({"outputs/j-1/video.mp4": b"x"})
    asyncio.run(commit(bucket).prune(OUT, "j-1", ["outputs/j-1/video.mp4"]))
    assert bucket.deleted == []
