"""Transfers hold a bounded number of parts in memory, whatever the object's size.

aioboto3's own managed transfer code runs here (bound to a fake client), against a network
slower than the disk, as S3 is from a worker's local disk: that is when an upload's reader
gets ahead of its senders and, unbounded, would hold the whole file. Python's allocations are
traced; the bound is a handful of parts for an object of many parts.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from aioboto3.s3.inject import download_file, upload_file

from core.models import S3ObjectRef
from infra.storage import S3ObjectStore

pytestmark = pytest.mark.integration

PART = 1024**2
PARTS = 64  # the object: many times what may be held
CONCURRENCY = 4
# Parts in flight with the up to three copies aiohttp makes of a part it sends (they pile
# up when the machine is loaded: 16.9 parts seen in a CI run), one queued, one being read,
# and slack for the bytearray a part is read into. Unbounded, the upload held 35 of 64.
BOUND = (4 * CONCURRENCY + 6) * PART
NETWORK_DELAY = 0.02  # seconds per part: the disk reads a part far faster


def pattern(index: int) -> bytes:
    """Part ``index``'s bytes: a byte of its own, so a part written out of place shows."""
    return bytes([index % 251]) * PART


class Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self) -> bytes:
        return self._data


class SlowS3:
    """The calls aioboto3's managed transfers make, each part taking a while on the wire."""

    upload_file = upload_file
    download_file = download_file

    def __init__(self) -> None:
        self.received: dict[int, int] = {}  # part number -> its length
        self.completed: list[dict[str, Any]] = []

    async def create_multipart_upload(self, **_: Any) -> dict[str, str]:
        return {"UploadId": "u-1"}

    async def upload_part(self, Body: bytearray, PartNumber: int, **_: Any) -> dict[str, str]:
        await asyncio.sleep(NETWORK_DELAY)
        self.received[PartNumber] = len(Body)  # the bytes are dropped, as once sent
        return {"ETag": f'"{PartNumber}"'}

    async def complete_multipart_upload(self, MultipartUpload: dict[str, Any], **_: Any) -> None:
        self.completed = MultipartUpload["Parts"]

    async def abort_multipart_upload(self, **_: Any) -> None:
        raise AssertionError("the upload was aborted")

    async def head_object(self, **_: Any) -> dict[str, int]:
        return {"ContentLength": PARTS * PART}

    async def get_object(self, Range: str, **_: Any) -> dict[str, Body]:
        await asyncio.sleep(NETWORK_DELAY)
        start = int(Range.removeprefix("bytes=").split("-")[0])
        return {"Body": Body(pattern(start // PART))}


def traced_peak(work: Any) -> int:
    """Peak bytes Python allocated while ``work`` ran (its threads' included)."""
    tracemalloc.start()
    try:
        asyncio.run(work)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_upload_holds_a_few_parts_of_a_large_file(tmp_path: Path) -> None:
    source = tmp_path / "video.mp4"
    with source.open("wb") as f:
        for i in range(PARTS):
            f.write(pattern(i))
    s3 = SlowS3()
    store = S3ObjectStore(s3, max_concurrency=CONCURRENCY, part_size=PART)

    peak = traced_peak(store.upload_file(source, "out", "k/video.mp4", "video/mp4", None))

    assert sorted(s3.received) == list(range(1, PARTS + 1))
    assert all(n == PART for n in s3.received.values())
    assert [p["PartNumber"] for p in s3.completed] == list(range(1, PARTS + 1))
    assert peak < BOUND, f"{peak / PART:.1f} parts held at once ({PARTS} in the file)"


def test_a_download_holds_a_few_parts_of_a_large_object(tmp_path: Path) -> None:
    dest = tmp_path / "source"
    store = S3ObjectStore(SlowS3(), max_concurrency=CONCURRENCY, part_size=PART)

    peak = traced_peak(store.download(S3ObjectRef(bucket="in-bucket", key="big.mp4"), dest))

    with dest.open("rb") as f:
        assert all(f.read(PART) == pattern(i) for i in range(PARTS))
        assert f.read() == b""
    assert peak < BOUND, f"{peak / PART:.1f} parts held at once ({PARTS} in the object)"
