"""S3ObjectStore reading S3's 403s under IAM enforcement (`moto_iam`): S3 answers 403, not
404, for a missing key to a caller that may not list where it lies, so users holding part of
the worker's grants show how the store tells missing from forbidden, and an absent `job.json`
marker from one it may not read.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.errors import InputForbidden, InputNotFound, StorageUnavailable
from core.models import S3ObjectRef
from infra.aws import open_clients
from infra.settings import Settings
from infra.storage import S3ObjectStore
from tests.integration.moto_iam import REGION, Deployment, IamServer, Keys

pytestmark = pytest.mark.integration


def _bucket_policy(bucket: str, *, get: str | None, listing: bool) -> dict[str, Any]:
    grants: list[dict[str, Any]] = []
    if get is not None:
        grants.append(
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/{get}",
            }
        )
    if listing:
        grants.append(
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}
        )
    return {"Version": "2012-10-17", "Statement": grants}


async def _with_store(keys: Keys, action: Any) -> Any:
    with pytest.MonkeyPatch.context() as env:
        for name, value in keys.env().items():
            env.setenv(name, value)
        async with open_clients(Settings(region=REGION)) as clients:
            return await action(S3ObjectStore(clients.s3))


def test_a_refused_input_is_missing_or_forbidden_as_a_listing_tells(
    iam_server: IamServer, deployment: Deployment
) -> None:
    bucket = deployment.settings.input_bucket
    admin_s3 = iam_server.admin.client(iam_server.endpoint, "s3")
    admin_s3.put_object(Bucket=bucket, Key="library/there.mp4", Body=b"x")
    lister = iam_server.user(_bucket_policy(bucket, get="incoming/*", listing=True))
    blind = iam_server.user(_bucket_policy(bucket, get="incoming/*", listing=False))

    def head(key: str) -> Any:
        return lambda store: store.head(S3ObjectRef(bucket=bucket, key=key))

    with pytest.raises(InputNotFound):  # 403, and the listing lacks it: S3 hid a 404
        asyncio.run(_with_store(lister, head("library/gone.mp4")))
    with pytest.raises(InputForbidden):  # 403, and the listing has it
        asyncio.run(_with_store(lister, head("library/there.mp4")))
    with pytest.raises(InputForbidden):  # 403, and no listing either
        asyncio.run(_with_store(blind, head("library/gone.mp4")))


def test_a_refused_marker_read_is_absent_only_when_a_listing_says_so(
    iam_server: IamServer, deployment: Deployment
) -> None:
    bucket = deployment.settings.output_bucket
    lister = iam_server.user(_bucket_policy(bucket, get=None, listing=True))

    def marker(store: S3ObjectStore) -> Any:
        return store.get_bytes(bucket, "outputs/j-1/job.json", 1024)

    assert asyncio.run(_with_store(lister, marker)) is None
    iam_server.admin.client(iam_server.endpoint, "s3").put_object(
        Bucket=bucket, Key="outputs/j-1/job.json", Body=b"{}"
    )
    with pytest.raises(StorageUnavailable):  # there, and not ours to read: not "absent"
        asyncio.run(_with_store(lister, marker))
