"""The ObjectStore port's contract, held by both of its adapters: S3 (moto's server, over
HTTP) and the in-memory store shipped with the worker (``infra.memory_objects``), which the
dispatcher's unit tests run on (``tests/unit/fakes.FakeObjects``). HEAD pins an input (size,
ETag); the download honours the pin; uploads carry their headers; the commit marker's
requests (``put_new``, ``get_bytes``, ``list_keys``, ``delete_keys``) behave as the commit
relies on.

Where they differ, by design: the memory store has no buckets (any name exists) and no
versions, so a missing bucket, a versioned input and S3's 403s (``test_aws_errors.py``,
``test_iam_store_refusals.py``) are S3's alone."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.errors import InputChanged, InputNotFound, StorageUnavailable
from core.models import S3ObjectRef
from core.ports import ObjectStore, SpanReads
from infra.aws import open_clients
from infra.memory_objects import MemoryObjectStore
from infra.storage import S3ObjectStore

from .conftest import Stack

pytestmark = pytest.mark.integration

SEGMENT, PLAYLIST = "video/iso.segment", "application/vnd.apple.mpegurl"
Headers = tuple[str, str | None]  # Content-Type, Cache-Control
_: ObjectStore = MemoryObjectStore()  # mypy holds the memory store to the port


@dataclass
class Rig:
    store: ObjectStore
    bucket: str
    headers: Callable[[str], Awaitable[Headers]]  # as a reader of the key sees them
    spans: SpanReads  # the same store, as a split job's chunk reads its part of the input

    def ref(self, key: str, etag: str | None = None) -> S3ObjectRef:
        return S3ObjectRef(bucket=self.bucket, key=key, etag=etag)


Opener = Callable[[], AbstractAsyncContextManager[Rig]]


@pytest.fixture(params=["s3", "memory"])
def opened(request: pytest.FixtureRequest, stack: Stack) -> Opener:
    bucket = stack.settings.output_bucket

    @asynccontextmanager
    async def s3() -> AsyncIterator[Rig]:
        async with open_clients(stack.settings) as clients:

            async def headers(key: str) -> Headers:
                meta: dict[str, Any] = await clients.s3.head_object(Bucket=bucket, Key=key)
                return meta["ContentType"], meta.get("CacheControl")

            ranged = S3ObjectStore(clients.s3, part_size=64)  # its ranges cut into parts too
            yield Rig(S3ObjectStore(clients.s3), bucket, headers, ranged)

    @asynccontextmanager
    async def memory() -> AsyncIterator[Rig]:
        store = MemoryObjectStore()

        async def headers(key: str) -> Headers:
            stored = store.stored(bucket, key)
            assert stored is not None, key
            return stored.content_type, stored.cache_control

        yield Rig(store, bucket, headers, store)

    return s3 if request.param == "s3" else memory


def contract(opened: Opener, check: Callable[[Rig], Awaitable[None]]) -> None:
    async def run() -> None:
        async with opened() as rig:
            await check(rig)

    asyncio.run(run())


def test_head_pins_size_and_etag(opened: Opener) -> None:
    async def check(rig: Rig) -> None:
        data = b"an upload" * 100
        assert await rig.store.put_bytes(data, rig.bucket, "in/clip.mp4", "video/mp4", None) == 900
        info = await rig.store.head(rig.ref("in/clip.mp4"))
        # A single-part object's ETag is its MD5: what a client can check it by.
        assert (info.size, info.etag) == (900, hashlib.md5(data).hexdigest())
        assert info.version_id is None  # the bucket is not versioned
        with pytest.raises(InputNotFound):
            await rig.store.head(rig.ref("in/missing.mp4"))
        versioned = rig.ref("in/clip.mp4").model_copy(update={"version_id": "3HL4kqtJlcpXroDT"})
        with pytest.raises(InputNotFound):  # a version the unversioned bucket never issued
            await rig.store.head(versioned)

    contract(opened, check)


def test_a_download_is_pinned_to_the_etag_its_head_saw(opened: Opener, tmp_path: Path) -> None:
    async def check(rig: Rig) -> None:
        await rig.store.put_bytes(b"small", rig.bucket, "in/swap.mp4", "video/mp4", None)
        pinned = rig.ref("in/swap.mp4", (await rig.store.head(rig.ref("in/swap.mp4"))).etag)
        await rig.store.download(pinned, tmp_path / "first")
        assert (tmp_path / "first").read_bytes() == b"small"
        await rig.store.put_bytes(b"x" * 10_000, rig.bucket, "in/swap.mp4", "video/mp4", None)
        with pytest.raises(InputChanged):
            await rig.store.download(pinned, tmp_path / "stale")
        stale = tmp_path / "stale"
        assert not stale.exists() or stale.read_bytes() == b""  # never the newer object
        await rig.store.download(rig.ref("in/swap.mp4"), tmp_path / "unpinned")
        assert (tmp_path / "unpinned").read_bytes() == b"x" * 10_000
        # Gone since its HEAD: transient (the next delivery's HEAD says input_not_found).
        with pytest.raises(StorageUnavailable):
            await rig.store.download(rig.ref("in/gone.mp4"), tmp_path / "gone")

    contract(opened, check)


def test_a_ranged_read_writes_its_spans_in_place_and_honours_the_pin(
    opened: Opener, tmp_path: Path
) -> None:
    async def check(rig: Rig) -> None:
        data = bytes(range(256)) * 4  # 1 KiB, every byte where it belongs
        await rig.store.put_bytes(data, rig.bucket, "in/film.mp4", "video/mp4", None)
        info = await rig.store.head(rig.ref("in/film.mp4"))
        pinned = rig.ref("in/film.mp4", info.etag).model_copy(update={"size": info.size})
        spans = [(0, 40), (300, 700), (1000, 1024)]
        await rig.spans.download_spans(pinned, spans, tmp_path / "sparse")
        got = (tmp_path / "sparse").read_bytes()
        assert len(got) == len(data)  # the object's size: offsets are the object's own
        for start, end in spans:
            assert got[start:end] == data[start:end]
        assert got[40:300] == bytes(260)  # a hole between, never read
        await rig.spans.download_spans(pinned, [(100, 200)], tmp_path / "sparse")  # and more
        more = (tmp_path / "sparse").read_bytes()
        assert more[100:200] == data[100:200]
        assert more[:40] == data[:40]  # what the first read wrote stays
        await rig.store.put_bytes(b"newer", rig.bucket, "in/film.mp4", "video/mp4", None)
        with pytest.raises(InputChanged):
            await rig.spans.download_spans(pinned, spans, tmp_path / "stale")

    contract(opened, check)


def test_uploads_carry_their_content_type_and_cache_control(opened: Opener, tmp_path: Path) -> None:
    async def check(rig: Rig) -> None:
        segment = tmp_path / "seg_00001.m4s"
        segment.write_bytes(b"\x00\x01segment")
        immutable = "public, max-age=31536000, immutable"
        await rig.store.upload_file(segment, rig.bucket, "out/seg.m4s", SEGMENT, immutable)
        await rig.store.put_bytes(b"#EXTM3U\n", rig.bucket, "out/master.m3u8", PLAYLIST, None)
        assert await rig.headers("out/seg.m4s") == (SEGMENT, immutable)
        assert await rig.headers("out/master.m3u8") == (PLAYLIST, None)
        assert await rig.store.get_bytes(rig.bucket, "out/seg.m4s", 100) == b"\x00\x01segment"

    contract(opened, check)


def test_put_new_writes_only_where_nothing_is(opened: Opener) -> None:
    async def check(rig: Rig) -> None:
        put_new, bucket = rig.store.put_new, rig.bucket
        assert await put_new(b'{"a": 1}', bucket, "out/job.json", "application/json", None)
        assert not await put_new(b'{"b": 2}', bucket, "out/job.json", "text/plain", "no-cache")
        assert await rig.store.get_bytes(rig.bucket, "out/job.json", 100) == b'{"a": 1}'
        assert await rig.headers("out/job.json") == ("application/json", None)

    contract(opened, check)


def test_get_bytes_reads_up_to_its_limit(opened: Opener) -> None:
    async def check(rig: Rig) -> None:
        assert await rig.store.get_bytes(rig.bucket, "out/none.json", 100) is None
        await rig.store.put_bytes(b"0123456789", rig.bucket, "out/ten", "text/plain", None)
        assert await rig.store.get_bytes(rig.bucket, "out/ten", 10) == b"0123456789"
        with pytest.raises(StorageUnavailable):
            await rig.store.get_bytes(rig.bucket, "out/ten", 9)

    contract(opened, check)


def test_keys_are_listed_by_prefix_and_deleted(opened: Opener) -> None:
    async def check(rig: Rig) -> None:
        for key in ("job/b/2.ts", "job/a/1.ts", "job/a.m3u8", "jobs/x", "other/job/c"):
            await rig.store.put_bytes(b"x", rig.bucket, key, "video/mp2t", None)
        assert await rig.store.list_keys(rig.bucket, "job/") == [
            "job/a.m3u8",
            "job/a/1.ts",
            "job/b/2.ts",
        ]  # S3's order: by the key's bytes ("." before "/")
        assert await rig.store.list_keys(rig.bucket, "nothing/") == []
        await rig.store.delete_keys(rig.bucket, ["job/a/1.ts", "job/b/2.ts", "job/never"])
        assert await rig.store.list_keys(rig.bucket, "job") == ["job/a.m3u8", "jobs/x"]
        assert await rig.store.get_bytes(rig.bucket, "job/a/1.ts", 10) is None

    contract(opened, check)


def test_a_listing_gives_each_objects_size_and_age(opened: Opener) -> None:
    async def check(rig: Rig) -> None:
        before = datetime.now(UTC) - timedelta(seconds=5)  # S3 keeps whole seconds
        for key, size in (("aged/b/2.ts", 3), ("aged/a.m3u8", 1), ("aged-not/x", 2)):
            await rig.store.put_bytes(b"x" * size, rig.bucket, key, "video/mp2t", None)
        listed = await rig.store.list_objects(rig.bucket, "aged/")
        assert [(o.key, o.size) for o in listed] == [("aged/a.m3u8", 1), ("aged/b/2.ts", 3)]
        for listing in listed:  # aware, and when the write happened
            assert before <= listing.last_modified <= datetime.now(UTC) + timedelta(seconds=5)
        assert await rig.store.list_objects(rig.bucket, "nothing/") == []

    contract(opened, check)


def test_a_copy_is_the_same_object_with_its_headers(opened: Opener) -> None:
    async def check(rig: Rig) -> None:
        immutable = "public, max-age=31536000, immutable"
        await rig.store.put_bytes(b"\x00segment", rig.bucket, "from/seg.m4s", SEGMENT, immutable)
        await rig.store.copy(rig.bucket, "from/seg.m4s", rig.bucket, "to/seg.m4s")
        assert await rig.store.get_bytes(rig.bucket, "to/seg.m4s", 100) == b"\x00segment"
        assert await rig.headers("to/seg.m4s") == (SEGMENT, immutable)
        assert await rig.store.get_bytes(rig.bucket, "from/seg.m4s", 100) == b"\x00segment"
        with pytest.raises(StorageUnavailable):  # the source gone: transient, as S3 says it
            await rig.store.copy(rig.bucket, "from/gone.m4s", rig.bucket, "to/gone.m4s")

    contract(opened, check)
