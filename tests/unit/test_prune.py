"""`ffapi prune`'s deleting (handlers/prune.py) on the in-memory store, its clock moved: the
commit marker goes in a request of its own before the rest of its package; a dry run names
the same and deletes nothing; nothing outside the targets' prefixes is touched."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from core.jobs.retention import RetentionTarget
from handlers.prune import PruneCount, prune
from infra.memory_objects import MemoryObjectStore

T0 = datetime(2027, 1, 1, tzinfo=UTC)
JOB = "j-" + "0123456789abcdef01234567"
TARGETS = [
    RetentionTarget("outputs", "out", "outputs/", 30),
    RetentionTarget("inputs", "in", "incoming/", 7),
]


class Recording(MemoryObjectStore):
    def __init__(self) -> None:
        self.at = T0
        super().__init__(clock=lambda: self.at)
        self.requests: list[list[str]] = []

    async def delete_keys(self, bucket: str, keys: Sequence[str]) -> None:
        self.requests.append(list(keys))
        await super().delete_keys(bucket, keys)


def filled() -> Recording:
    store = Recording()
    for bucket, key in (
        ("out", f"outputs/{JOB}/video.mp4"),
        ("out", f"outputs/{JOB}/probe.json"),
        ("out", f"outputs/{JOB}/job.json"),
        ("out", f"elsewhere/{JOB}/job.json"),
        ("in", "incoming/clip.mp4"),
        ("in", "submitted/clip.mp4"),
    ):
        asyncio.run(store.put_bytes(b"12345", bucket, key, "application/octet-stream", None))
    store.at = T0 + timedelta(days=10)
    asyncio.run(store.put_bytes(b"1", "in", "incoming/later.mp4", "video/mp4", None))
    return store


def keys(store: MemoryObjectStore) -> set[str]:
    return {f"{b}/{k}" for b, k in store.objects}


def test_a_dry_run_names_what_goes_and_deletes_nothing() -> None:
    store, lines = filled(), list[str]()
    before = keys(store)
    count = asyncio.run(prune(store, TARGETS, T0 + timedelta(days=31), True, lines.append))
    assert count == PruneCount(packages=1, uploads=2, size=21)
    assert keys(store) == before
    assert store.requests == []
    assert [line.split()[:3] for line in lines] == [
        ["would", "delete", f"s3://out/outputs/{JOB}/"],
        ["would", "delete", "s3://in/incoming/clip.mp4"],
        ["would", "delete", "s3://in/incoming/later.mp4"],
    ]


def test_the_marker_goes_first_and_alone_then_its_package() -> None:
    store = filled()
    count = asyncio.run(prune(store, TARGETS, T0 + timedelta(days=31), False, lambda _: None))
    assert count == PruneCount(packages=1, uploads=2, size=21)
    assert store.requests == [
        [f"outputs/{JOB}/job.json"],
        [f"outputs/{JOB}/probe.json", f"outputs/{JOB}/video.mp4"],
        ["incoming/clip.mp4"],
        ["incoming/later.mp4"],
    ]
    # outside every rule's prefix: never listed, never deleted
    assert keys(store) == {f"out/elsewhere/{JOB}/job.json", "in/submitted/clip.mp4"}


def test_what_is_younger_than_its_retention_stays() -> None:
    store = filled()
    asyncio.run(prune(store, TARGETS, T0 + timedelta(days=12), False, lambda _: None))
    # day 12: the upload of day 0 is past its 7 days, the one of day 10 is not, and the
    # package is far from its 30
    assert keys(store) == {
        f"out/outputs/{JOB}/video.mp4",
        f"out/outputs/{JOB}/probe.json",
        f"out/outputs/{JOB}/job.json",
        f"out/elsewhere/{JOB}/job.json",
        "in/submitted/clip.mp4",
        "in/incoming/later.mp4",
    }
