"""The template's role, enforced: a real job runs through the Lambda handler with the
credentials of an IAM user that holds exactly the worker's policy (resolved from
template.yaml), on moto's server with its IAM access control switched on (`moto_iam`: what
moto checks and what it does not); and that user is refused what the role does not grant.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from handlers import sqs_lambda
from tests.integration.moto_iam import Deployment, IamServer, drain

pytestmark = pytest.mark.integration


def refused(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        return exc.response["Error"]["Code"] in ("AccessDenied", "403", "AccessDeniedException")
    return False


def test_the_worker_user_is_held_to_the_policy(
    iam_server: IamServer, deployment: Deployment
) -> None:
    """The server enforces: what the role does not grant fails (so the job below proves
    something)."""
    s = deployment.settings
    s3, ddb, sqs = (
        deployment.worker.client(iam_server.endpoint, n) for n in ("s3", "dynamodb", "sqs")
    )
    admin_s3 = iam_server.admin.client(iam_server.endpoint, "s3")
    admin_s3.put_object(Bucket=s.input_bucket, Key="library/clip.mp4", Body=b"x")
    assert refused(s3.get_object, Bucket=s.input_bucket, Key="library/clip.mp4")
    assert refused(s3.put_object, Bucket=s.input_bucket, Key="incoming/x.mp4", Body=b"x")
    assert refused(s3.put_object, Bucket=s.output_bucket, Key="elsewhere/x", Body=b"x")
    assert refused(ddb.scan, TableName=s.jobs_table)
    # A job for later is requeued to its own queue (core.jobs.schedule), and a batch fans out
    # its jobs (core.jobs.batches): the jobs queues only.
    assert not refused(sqs.send_message, QueueUrl=deployment.resources.queue_url, MessageBody="x")
    assert not refused(
        sqs.send_message, QueueUrl=deployment.resources.low_queue_url, MessageBody="x"
    )
    # The scheduled dead-letter sweep reads the DLQ; moving letters is the operator's.
    assert refused(sqs.send_message, QueueUrl=deployment.resources.dlq_url, MessageBody="x")
    assert not refused(sqs.receive_message, QueueUrl=deployment.resources.dlq_url)
    assert not refused(s3.put_object, Bucket=s.output_bucket, Key="outputs/x", Body=b"x")


def _poll(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Lambda's SQS poller, with the function's role: receive, and later delete."""
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    resp = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )
    return list(resp.get("Messages", []))


def _record(message_id: str, body: str, receive_count: str = "1") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "body": body,
        "attributes": {"ApproximateReceiveCount": receive_count},
    }


def test_a_job_runs_on_exactly_the_templates_grants(
    iam_server: IamServer,
    deployment: Deployment,
    short_clip: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s, endpoint = deployment.settings, iam_server.endpoint
    admin_s3 = iam_server.admin.client(endpoint, "s3")
    admin_s3.upload_file(str(short_clip), s.input_bucket, "incoming/clip.mp4")  # -> the queue
    admin_s3.upload_file(str(short_clip), s.input_bucket, "library/clip.mp4")
    admin_s3.upload_file(str(short_clip), s.input_bucket, "submitted/0f3a/clip.mp4")  # ffapi submit
    sqs = deployment.worker.client(endpoint, "sqs")
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while not any("ObjectCreated" in m["Body"] for m in messages):  # (its key is URL-encoded)
        assert time.monotonic() < deadline, "S3's notification never reached the queue"
        messages += _poll(sqs, deployment.resources.queue_url)
    records = [_record(m["MessageId"], m["Body"]) for m in messages]
    direct = {
        "submitted": "submitted/0f3a/clip.mp4",
        "outside": "library/clip.mp4",
        "missing": "incoming/gone.mp4",
    }
    for name, key in direct.items():
        records.append(_record(name, json.dumps({"input": {"bucket": s.input_bucket, "key": key}})))
    for name, value in deployment.worker.env().items():
        monkeypatch.setenv(name, value)

    response = asyncio.run(sqs_lambda.process_batch({"Records": records}, s))

    assert response == {"batchItemFailures": []}
    for m in messages:  # the poller deletes what the function did not report
        sqs.delete_message(
            QueueUrl=deployment.resources.queue_url, ReceiptHandle=m["ReceiptHandle"]
        )
    events = drain(iam_server.admin.client(endpoint, "sqs"), deployment.events_queue)
    completed = {
        e["data"]["input"]["key"]: e["subject"]
        for e in events
        if e["type"] == "ffapi.job.completed"
    }
    failed = {
        e["data"]["input"]["key"]: e["data"]["error"]
        for e in events
        if e["type"] == "ffapi.job.failed"
    }
    assert set(completed) == {"incoming/clip.mp4", "submitted/0f3a/clip.mp4"}
    assert {k: (e["code"], e["retryable"]) for k, e in failed.items()} == {
        "library/clip.mp4": ("input_forbidden", False),
        "incoming/gone.mp4": ("input_not_found", False),
    }
    written = admin_s3.list_objects_v2(Bucket=s.output_bucket)["Contents"]
    markers = {f"outputs/{job_id}/job.json" for job_id in completed.values()}
    assert markers <= {o["Key"] for o in written}
    assert all(
        o["Key"].startswith(tuple(m.removesuffix("job.json") for m in markers)) for o in written
    )
