"""S3 as the job's object store: managed transfers with a bounded TransferConfig.

``head`` pins an input (a 403 is told apart by a listing under its key: absent is
``input_not_found``, else ``input_forbidden``); ``download`` sends the pinned ETag as
If-Match (an object swapped since is ``input_changed``, never fetched); transfers go in
16 MiB parts, 8 at once, one part read ahead, and every transfer callback beats the job's
pulse. ``put_bytes`` and uploads set Content-Type and Cache-Control; ``put_new``
(If-None-Match), ``get_bytes``, ``list_keys`` and ``delete_keys`` serve the commit marker;
``list_objects`` (with each object's LastModified) serves retention (``ffapi prune``),
``copy`` (server-side, multipart above the part size) a job's further destinations, and
``download_spans`` (ranged GETs into a sparse file) a split job's chunk, its part of the input.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from core.errors import (
    FfapiError,
    InputChanged,
    InputForbidden,
    InputNotFound,
    StorageUnavailable,
)
from core.jobs import pulse
from core.models import S3ObjectRef
from core.ports import ObjectInfo, ObjectListing
from infra.aws import aws_errors, error_code

_MISSING = {"404", "NoSuchKey", "NoSuchVersion", "NoSuchBucket", "NotFound"}
# S3 answers 403 for a key it will not say is missing: the caller may not list that prefix
# (the template's role lists by prefix only, and whether S3 counts a prefix-bound
# s3:ListBucket for a GET's 404 is not documented). A HEAD's 403 has no body: code "403".
_FORBIDDEN = {"403", "AccessDenied", "Forbidden"}
_BAD_REQUEST = {"400", "InvalidArgument", "BadRequest"}
_CHANGED = {"412", "PreconditionFailed"}
PART_SIZE = 16 * 1024**2


class S3ObjectStore:
    """Memory per transfer is bounded by the part size, whatever the object's size: a
    download holds at most ``max_concurrency`` parts (each part's body is read whole before
    it is written), an upload ``max_concurrency`` being sent + one queued + one being read.
    With the defaults, 128 MiB and 160 MiB (bench/worker_memory.py measures it)."""

    def __init__(self, s3: Any, max_concurrency: int = 8, part_size: int = PART_SIZE) -> None:
        self._s3 = s3
        self._part, self._concurrency = part_size, max_concurrency
        self._transfer = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=max_concurrency,
            # aioboto3's upload reads parts ahead into a queue of this many (boto3's default
            # is 100: 1.6 GiB of 16 MiB parts) whenever the disk outruns the network, which
            # it does: the worker's memory grew with the output's size. One part ready for
            # the next free connection keeps every connection busy.
            max_io_queue=1,
        )

    async def head(self, ref: S3ObjectRef) -> ObjectInfo:
        kwargs: dict[str, str] = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id:
            kwargs["VersionId"] = ref.version_id
        with aws_errors("s3:HeadObject"):
            try:
                meta = await self._s3.head_object(**kwargs)
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    raise InputNotFound(f"s3://{ref.bucket}/{ref.key} does not exist") from exc
                if error_code(exc) in _FORBIDDEN:
                    raise await self._refused_input(ref) from exc
                if ref.version_id and error_code(exc) in _BAD_REQUEST:
                    # S3's answer to a version id it never issued: no delivery can read it.
                    raise InputNotFound(
                        f"s3://{ref.bucket} has no such version of the input"
                    ) from exc
                raise
        return ObjectInfo(
            size=int(meta["ContentLength"]),
            etag=str(meta.get("ETag", "")).strip('"') or None,
            version_id=meta.get("VersionId") or None,
        )

    async def _refused_input(self, ref: S3ObjectRef) -> FfapiError:
        """Why a HEAD was refused: the input is missing (a listing under its key, which the
        role may make where it may read, lacks it), or not the worker's to read (permanent:
        every delivery meets the same policy)."""
        try:
            if not await self._listed(ref.bucket, ref.key):
                return InputNotFound(f"s3://{ref.bucket}/{ref.key} does not exist")
        except ClientError as exc:
            if error_code(exc) not in _FORBIDDEN:
                raise
            # Not even listable: outside the prefixes the role may read.
        return InputForbidden(f"the worker's role may not read this object of {ref.bucket!r}")

    async def _listed(self, bucket: str, key: str) -> bool:
        # The first key at or after a prefix is the prefix itself when that key exists.
        resp = await self._s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        return any(obj["Key"] == key for obj in resp.get("Contents", []))

    async def download(self, ref: S3ObjectRef, dest: Path) -> None:
        """The object exactly as its HEAD described it: with the pinned ETag, an object
        overwritten since (a larger one than the disk was reserved and the size checked for,
        say) is refused by S3 itself, part by part."""
        extra: dict[str, str] = {}
        if ref.version_id:
            extra["VersionId"] = ref.version_id
        if ref.etag:
            extra["IfMatch"] = f'"{ref.etag}"'
        with aws_errors("s3:GetObject"), _refused_if_changed():
            await self._s3.download_file(
                ref.bucket,
                ref.key,
                str(dest),
                ExtraArgs=extra or None,
                Config=self._transfer,
                Callback=_moved,
            )

    async def download_spans(
        self, ref: S3ObjectRef, spans: Sequence[tuple[int, int]], dest: Path
    ) -> None:
        """Ranged GETs of the pinned object (If-Match, in parts, ``max_concurrency`` at
        once), each written at its offset into a sparse file of the object's size (one
        that exists keeps what it holds: spans read in turn add up)."""
        if ref.size is None:
            raise ValueError("a ranged read needs the object's size, pinned")
        await asyncio.to_thread(_sparse, dest, ref.size)
        parts = [(a, min(a + self._part, end)) for start, end in spans
                 for a in range(start, end, self._part)]  # fmt: skip
        gate = asyncio.Semaphore(self._concurrency)

        async def part(start: int, end: int) -> None:
            async with gate:
                body = await self._range(ref, start, end)
            await asyncio.to_thread(_write_at, dest, start, body)
            pulse.beat()

        await asyncio.gather(*(part(a, b) for a, b in parts))

    async def _range(self, ref: S3ObjectRef, start: int, end: int) -> bytes:
        extra: dict[str, str] = {"Range": f"bytes={start}-{end - 1}"}
        if ref.version_id:
            extra["VersionId"] = ref.version_id
        if ref.etag:
            extra["IfMatch"] = f'"{ref.etag}"'
        with aws_errors("s3:GetObject"), _refused_if_changed():
            resp = await self._s3.get_object(Bucket=ref.bucket, Key=ref.key, **extra)
            async with resp["Body"] as body:
                data: bytes = await body.read()
        if len(data) != end - start:
            raise StorageUnavailable(f"s3:GetObject: {len(data)} bytes of a {end - start} range")
        return data

    async def upload_file(
        self, path: Path, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> None:
        with aws_errors("s3:PutObject"):
            await self._s3.upload_file(
                str(path),
                bucket,
                key,
                ExtraArgs=_headers(content_type, cache_control),
                Config=self._transfer,
                Callback=_moved,
            )

    async def put_bytes(
        self, data: bytes, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> int:
        with aws_errors("s3:PutObject"):
            await self._s3.put_object(
                Bucket=bucket, Key=key, Body=data, **_headers(content_type, cache_control)
            )
        return len(data)

    async def put_new(
        self, data: bytes, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> bool:
        with aws_errors("s3:PutObject"):
            try:
                await self._s3.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=data,
                    IfNoneMatch="*",
                    **_headers(content_type, cache_control),
                )
            except ClientError as exc:
                # 412: it exists. 409: a concurrent conditional write to the key is under way;
                # its writer commits, so for us it exists too.
                if error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    return False
                raise
        return True

    async def get_bytes(self, bucket: str, key: str, limit: int) -> bytes | None:
        with aws_errors("s3:GetObject"):
            try:
                resp = await self._s3.get_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    return None
                if error_code(exc) in _FORBIDDEN and not await self._listed(bucket, key):
                    return None  # S3 hiding a 404 from a role that lists by prefix
                raise
            if int(resp.get("ContentLength", 0)) > limit:
                raise StorageUnavailable(f"s3://{bucket}/{key} is larger than {limit} bytes")
            async with resp["Body"] as body:
                return bytes(await body.read())

    async def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        with aws_errors("s3:ListObjectsV2"):
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            async for page in pages:
                keys += [obj["Key"] for obj in page.get("Contents", [])]
        return keys

    async def list_objects(self, bucket: str, prefix: str) -> list[ObjectListing]:
        found: list[ObjectListing] = []
        with aws_errors("s3:ListObjectsV2"):
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            async for page in pages:
                found += [
                    ObjectListing(obj["Key"], int(obj["Size"]), obj["LastModified"])
                    for obj in page.get("Contents", [])
                ]
        return found

    async def copy(self, bucket: str, key: str, dest_bucket: str, dest_key: str) -> None:
        """The managed copy: one CopyObject up to the part size, UploadPartCopy above it
        (CopyObject alone stops at 5 GiB); the metadata directive COPY keeps the headers."""
        with aws_errors("s3:CopyObject"):
            await self._s3.copy(
                {"Bucket": bucket, "Key": key}, dest_bucket, dest_key,
                Config=self._transfer, Callback=_moved,
            )  # fmt: skip

    async def delete_keys(self, bucket: str, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys at most
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            with aws_errors("s3:DeleteObjects"):
                resp = await self._s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
                )
            if errors := resp.get("Errors"):
                raise StorageUnavailable(
                    f"s3:DeleteObjects: {len(errors)} not deleted, e.g. {errors[0].get('Code')}"
                )


@contextmanager
def _refused_if_changed() -> Iterator[None]:
    """A GET refused for its If-Match (a part's refusal too: see sdk_error) is the input
    overwritten since it was pinned."""
    try:
        yield
    except Exception as exc:
        if error_code(exc) in _CHANGED:
            raise InputChanged(
                "the input was overwritten after it was announced; the newer object "
                "is a job of its own"
            ) from exc
        raise


def _sparse(dest: Path, size: int) -> None:
    """``dest`` of ``size`` bytes, holes where nothing was written (what an earlier read of
    other spans wrote stays)."""
    with dest.open("ab") as f:
        f.truncate(size)


def _write_at(dest: Path, offset: int, data: bytes) -> None:
    fd = os.open(dest, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def _moved(_bytes: int) -> None:
    """Bytes moving are the job's sign of life (core/jobs/pulse.py): a long transfer is not a
    stuck job."""
    pulse.beat()


def _headers(content_type: str, cache_control: str | None) -> dict[str, str]:
    headers = {"ContentType": content_type}
    if cache_control:
        headers["CacheControl"] = cache_control
    return headers
