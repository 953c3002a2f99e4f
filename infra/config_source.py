"""Reading the configuration document (``FFAPI_CONFIG``): an S3 object or a local file.

Both answer "unchanged" without reading the document again: S3 by a conditional GET
(``If-None-Match`` on the ETag last seen: a 304 carries no body), a file by its stamp
(modification time and size). A missing document is a :class:`ConfigError` (at start the
worker stops; later the old configuration stays in force); an S3 that does not answer is
``StorageUnavailable`` (the reloader tries again on its next check).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from core.jobs.config import ConfigError
from core.ports import ConfigReader, ConfigText
from infra.aws import aws_errors, error_code

MAX_CONFIG_BYTES = 1024 * 1024  # a configuration is presets and rules: kilobytes
_MISSING = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}
_FORBIDDEN = {"403", "AccessDenied", "Forbidden"}
_NOT_MODIFIED = {"304", "NotModified"}


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_location(value: str) -> S3Location | Path:
    """``s3://bucket/key`` or a local path."""
    if not value.startswith("s3://"):
        return Path(value)
    bucket, _, key = value.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ConfigError(f"FFAPI_CONFIG {value!r} is not s3://bucket/key")
    return S3Location(bucket, key)


def config_reader(value: str, s3: Any) -> ConfigReader:
    where = parse_location(value)
    return S3ConfigReader(s3, where) if isinstance(where, S3Location) else FileConfigReader(where)


class S3ConfigReader:
    def __init__(self, s3: Any, where: S3Location) -> None:
        self._s3 = s3
        self._where = where

    async def read(self, unless: str | None = None) -> ConfigText | None:
        args = {"Bucket": self._where.bucket, "Key": self._where.key}
        if unless:
            args["IfNoneMatch"] = f'"{unless}"'
        with aws_errors("s3:GetObject"):
            try:
                resp = await self._s3.get_object(**args)
            except ClientError as exc:
                code = error_code(exc)
                if code in _NOT_MODIFIED:
                    return None
                if code in _MISSING | _FORBIDDEN:  # the role can read it or it is missing
                    raise ConfigError(f"{self._where.url} cannot be read ({code})") from exc
                raise
            if int(resp.get("ContentLength", 0)) > MAX_CONFIG_BYTES:
                raise ConfigError(f"{self._where.url} is larger than {MAX_CONFIG_BYTES} bytes")
            async with resp["Body"] as body:
                data = bytes(await body.read())
        version = str(resp.get("ETag", "")).strip('"')
        return ConfigText(_text(data, self._where.url), version)


class FileConfigReader:
    def __init__(self, path: Path) -> None:
        self._path = path

    async def read(self, unless: str | None = None) -> ConfigText | None:
        return await asyncio.to_thread(self._read, unless)

    def _read(self, unless: str | None) -> ConfigText | None:
        try:
            stat = self._path.stat()
            version = f"{stat.st_mtime_ns}-{stat.st_size}"
            if version == unless:
                return None
            if stat.st_size > MAX_CONFIG_BYTES:
                raise ConfigError(f"{self._path} is larger than {MAX_CONFIG_BYTES} bytes")
            data = self._path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read configuration {self._path}: {exc.strerror}") from exc
        return ConfigText(_text(data, str(self._path)), version)


def _text(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where} is not UTF-8 text") from exc
