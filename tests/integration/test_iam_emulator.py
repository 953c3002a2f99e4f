"""What the other test_iam_*.py modules take from moto's IAM enforcement (`moto_iam`): an S3
call is authorized by the IAM action AWS documents for it, not by its API operation's name.
HeadObject needs s3:GetObject and ListObjectsV2 s3:ListBucket; there is no s3:HeadObject or
s3:ListObjectsV2 action. moto 5.2.6 checks the operation's name (pyproject.toml says how), and
a role holding exactly the template's grants is then refused its reads: this names that cause
where the job tests could only show a refused job.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.moto_iam import IamServer

pytestmark = pytest.mark.integration

BUCKET = "emulator-fidelity"


def _status(call: Any, **kwargs: Any) -> str:
    try:
        call(**kwargs)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def test_s3_calls_are_authorized_by_their_iam_action(iam_server: IamServer) -> None:
    admin_s3 = iam_server.admin.client(iam_server.endpoint, "s3")
    admin_s3.create_bucket(Bucket=BUCKET)
    admin_s3.put_object(Bucket=BUCKET, Key="incoming/a.mp4", Body=b"x")
    reader = iam_server.user(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{BUCKET}/*",
                },
                {
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": f"arn:aws:s3:::{BUCKET}",
                },
            ],
        }
    )
    s3 = reader.client(iam_server.endpoint, "s3")

    assert {
        "HeadObject": _status(s3.head_object, Bucket=BUCKET, Key="incoming/a.mp4"),
        "GetObject": _status(s3.get_object, Bucket=BUCKET, Key="incoming/a.mp4"),
        "ListObjectsV2": _status(s3.list_objects_v2, Bucket=BUCKET, Prefix="incoming/"),
        "PutObject": _status(s3.put_object, Bucket=BUCKET, Key="incoming/b.mp4", Body=b"x"),
    } == {"HeadObject": "ok", "GetObject": "ok", "ListObjectsV2": "ok", "PutObject": "AccessDenied"}
