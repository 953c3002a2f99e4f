"""The object store (S3) and the configuration document's reader (:mod:`core.ports`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from core.models import S3ObjectRef


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    etag: str | None
    version_id: str | None


@dataclass(frozen=True, slots=True)
class ObjectListing:
    """One object as a listing shows it: what retention judges by (its age)."""

    key: str
    size: int
    last_modified: datetime  # aware, UTC


class SpanReads(Protocol):
    async def download_spans(
        self, ref: S3ObjectRef, spans: Sequence[tuple[int, int]], dest: Path
    ) -> None:
        """Only ``spans`` of the object ([start, end) each), each at its own offset in
        ``dest``, a sparse file of the object's size (``ref.size``, pinned): what a reader
        of those bytes alone sees as the object. A ``dest`` that exists keeps what it holds
        (spans read in turn add up). Refused as ``download`` is when the object changed."""
        ...


class ObjectStore(Protocol):
    async def head(self, ref: S3ObjectRef) -> ObjectInfo:
        """Raise InputNotFound if the object (version) does not exist."""
        ...

    async def download(self, ref: S3ObjectRef, dest: Path) -> None: ...

    async def upload_file(
        self, path: Path, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> None: ...

    async def put_bytes(
        self, data: bytes, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> int: ...

    async def put_new(
        self, data: bytes, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> bool:
        """Write only if nothing is at ``key`` (one conditional request); False when
        something is."""
        ...

    async def get_bytes(self, bucket: str, key: str, limit: int) -> bytes | None:
        """The object's bytes (at most ``limit``, or raise); None when there is none."""
        ...

    async def list_keys(self, bucket: str, prefix: str) -> list[str]: ...

    async def delete_keys(self, bucket: str, keys: Sequence[str]) -> None: ...

    async def list_objects(self, bucket: str, prefix: str) -> list[ObjectListing]:
        """Every object under ``prefix``, in the order of its key's UTF-8 bytes."""
        ...

    async def copy(self, bucket: str, key: str, dest_bucket: str, dest_key: str) -> None:
        """A server-side copy of one object, headers (Content-Type, Cache-Control) and all;
        raise StorageUnavailable when the source is gone."""
        ...


@dataclass(frozen=True, slots=True)
class ConfigText:
    """The configuration document as read, with its version (an ETag, or a file's stamp)."""

    text: str
    version: str


class ConfigReader(Protocol):
    """Where the configuration document lives (``FFAPI_CONFIG``: an S3 object or a file)."""

    async def read(self, unless: str | None = None) -> ConfigText | None:
        """The document; None when its version is still ``unless`` (a conditional GET).
        Raises ConfigError when it is missing or cannot be read."""
        ...
