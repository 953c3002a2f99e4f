"""SDK failures become StorageUnavailable (transient, coded), including the shape aioboto3's
managed download gives a failed part."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from core.errors import InputChanged, StorageUnavailable
from core.models import S3ObjectRef
from infra.aws import aws_errors
from infra.storage import S3ObjectStore

pytestmark = pytest.mark.integration

DENIED = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")


class FailingPart:
    """What aioboto3's download_file does when one part's GET fails."""

    async def download_file(self, bucket: str, key: str, *args: object, **kwargs: object) -> None:
        try:
            raise DENIED
        except ClientError as e:
            raise Exception(f"Couldn't download file from {bucket}/{key}") from e


def test_a_failed_download_part_is_storage_unavailable(tmp_path: Path) -> None:
    store = S3ObjectStore(FailingPart())
    ref = S3ObjectRef(bucket="ffapi-input", key="clip.mp4")
    with pytest.raises(StorageUnavailable) as info:
        asyncio.run(store.download(ref, tmp_path / "source"))
    assert info.value.retryable is True
    assert "AccessDenied" in info.value.message


def test_an_unreachable_endpoint_is_storage_unavailable() -> None:
    with pytest.raises(StorageUnavailable), aws_errors("sqs:ReceiveMessage"):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")


def test_other_errors_are_left_alone() -> None:
    with pytest.raises(ValueError, match="a bug"), aws_errors("s3:GetObject"):
        raise ValueError("a bug")
    with pytest.raises(Exception, match="plain") as info, aws_errors("s3:GetObject"):
        raise Exception("plain")
    assert type(info.value) is Exception


class OverwrittenPart:
    """A part's GET refused by its If-Match: the object changed under the download."""

    async def download_file(self, bucket: str, key: str, *args: object, **kwargs: object) -> None:
        try:
            raise ClientError({"Error": {"Code": "PreconditionFailed"}}, "GetObject")
        except ClientError as e:
            raise Exception(f"Couldn't download file from {bucket}/{key}") from e


def test_a_part_refused_by_its_etag_is_input_changed(tmp_path: Path) -> None:
    store = S3ObjectStore(OverwrittenPart())
    ref = S3ObjectRef(bucket="ffapi-input", key="clip.mp4", etag="0123abcd")
    with pytest.raises(InputChanged) as info:
        asyncio.run(store.download(ref, tmp_path / "source"))
    assert info.value.retryable is False
