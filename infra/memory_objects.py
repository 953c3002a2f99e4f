"""The object store in memory: S3 as ``infra.storage.S3ObjectStore`` relies on it, on a dict.

For tests, and for trying the core without AWS (a dry run; no ``ffapi`` command wires it
yet). An object is its bytes, Content-Type and Cache-Control, and an ETag (the MD5 of its
bytes, as S3 gives an object put in one part). ``head`` of a missing object is
``input_not_found``; ``download`` honours the pinned ETag as S3 does If-Match (an object
overwritten since is ``input_changed``; one deleted since is ``storage_unavailable``, as
``S3ObjectStore`` answers a GET's 404); ``put_new`` writes only where nothing is;
``get_bytes`` refuses more than its limit (``storage_unavailable``) and answers None for
nothing; ``list_keys`` and ``list_objects`` list by prefix in S3's order (by the key's UTF-8
bytes), each object modified when its write happened by the store's clock; ``copy`` keeps the
headers, as S3's copy does.

What it does not model: buckets (every bucket exists, empty until written), versions (no
object has a version id; a ref that names one is not found, as on an unversioned bucket),
multipart ETags, access policies (no 403), outages, and the transfer callbacks that beat the
job's pulse (a copy in memory is instant). ``tests/integration/test_object_store_contract.py``
holds both adapters to one contract.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from core.errors import InputChanged, InputNotFound, StorageUnavailable
from core.models import S3ObjectRef
from core.ports import ObjectInfo, ObjectListing


@dataclass(frozen=True, slots=True)
class StoredObject:
    data: bytes
    content_type: str
    cache_control: str | None
    modified: datetime

    @property
    def etag(self) -> str:
        return hashlib.md5(self.data, usedforsecurity=False).hexdigest()


class MemoryObjectStore:
    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self._clock = clock  # what each write's LastModified is

    def stored(self, bucket: str, key: str) -> StoredObject | None:
        """The object at ``key`` with its headers, as a test reads it back."""
        return self.objects.get((bucket, key))

    async def head(self, ref: S3ObjectRef) -> ObjectInfo:
        stored = self.objects.get((ref.bucket, ref.key))
        if stored is None or ref.version_id:
            raise InputNotFound(f"s3://{ref.bucket}/{ref.key} does not exist")
        return ObjectInfo(size=len(stored.data), etag=stored.etag, version_id=None)

    async def download(self, ref: S3ObjectRef, dest: Path) -> None:
        dest.write_bytes(self._pinned(ref).data)

    def _pinned(self, ref: S3ObjectRef) -> StoredObject:
        """The object a GET of ``ref`` reads, refused as S3 refuses it."""
        stored = self.objects.get((ref.bucket, ref.key))
        if stored is None or ref.version_id:
            # As S3ObjectStore answers a GET's 404: transient; the next delivery's HEAD
            # finds the input gone (input_not_found).
            raise StorageUnavailable("s3:GetObject: 404: Not Found")
        if ref.etag and ref.etag != stored.etag:
            raise InputChanged(
                "the input was overwritten after it was announced; the newer object "
                "is a job of its own"
            )
        return stored

    async def download_spans(
        self, ref: S3ObjectRef, spans: Sequence[tuple[int, int]], dest: Path
    ) -> None:
        """As S3ObjectStore's: ``spans`` of the object at their offsets, holes between."""
        data = self._pinned(ref).data
        with dest.open("ab"):
            pass
        with dest.open("r+b") as f:
            f.truncate(len(data))
            for start, end in spans:
                f.seek(start)
                f.write(data[start:end])

    async def upload_file(
        self, path: Path, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> None:
        self.objects[(bucket, key)] = StoredObject(
            path.read_bytes(), content_type, cache_control, self._clock()
        )

    async def put_bytes(
        self, data: bytes, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> int:
        self.objects[(bucket, key)] = StoredObject(
            bytes(data), content_type, cache_control, self._clock()
        )
        return len(data)

    async def put_new(
        self, data: bytes, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> bool:
        if (bucket, key) in self.objects:
            return False
        await self.put_bytes(data, bucket, key, content_type, cache_control)
        return True

    async def get_bytes(self, bucket: str, key: str, limit: int) -> bytes | None:
        stored = self.objects.get((bucket, key))
        if stored is None:
            return None
        if len(stored.data) > limit:
            raise StorageUnavailable(f"s3://{bucket}/{key} is larger than {limit} bytes")
        return stored.data

    async def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys = [k for b, k in self.objects if b == bucket and k.startswith(prefix)]
        return sorted(keys, key=lambda k: k.encode())

    async def list_objects(self, bucket: str, prefix: str) -> list[ObjectListing]:
        return [
            ObjectListing(key, len(stored.data), stored.modified)
            for key in await self.list_keys(bucket, prefix)
            if (stored := self.objects[(bucket, key)])
        ]

    async def copy(self, bucket: str, key: str, dest_bucket: str, dest_key: str) -> None:
        stored = self.objects.get((bucket, key))
        if stored is None:  # as S3ObjectStore answers a copy's 404
            raise StorageUnavailable("s3:CopyObject: 404: Not Found")
        self.objects[(dest_bucket, dest_key)] = replace(stored, modified=self._clock())

    async def delete_keys(self, bucket: str, keys: Sequence[str]) -> None:
        for key in keys:
            self.objects.pop((bucket, key), None)  # a missing key is no error, as in S3
