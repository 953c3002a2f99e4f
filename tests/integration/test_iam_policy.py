"""The template's role, enforced: a real job runs through the Lambda handler with the
credentials of an IAM user that holds exactly the worker's policy (resolved from
template.yaml), on moto's server with its IAM access control switched on; and one through the
container worker with the task role docs/iam.md shows.

What moto checks: the action of every call, and the resource for S3 (bucket and object ARNs)
and SQS (the queue's ARN). What it does not, so tests/deploy does: SNS, DynamoDB and
sqs:GetQueueUrl calls are authorized against "*" (those grants are widened to "*" here, their
ARNs checked statically), and the ``s3:prefix`` condition is not evaluated (so listings are
checked statically too). A separate server process: the switch is global to moto's process.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from core.errors import InputForbidden, InputNotFound, StorageUnavailable
from core.models import S3ObjectRef
from handlers import sqs_lambda
from handlers.runtime import open_runtime
from handlers.worker import Worker
from infra.aws import open_clients
from infra.bootstrap import Resources, bootstrap
from infra.settings import Settings
from infra.storage import S3ObjectStore
from tests.event_contract import check_event
from tests.template_role import Stack, as_list, container_policy, load_template, statements

pytestmark = pytest.mark.integration

REGION = "us-east-1"
ADMIN_POLICY = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}  # fmt: skip


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def client(self, endpoint: str, service: str) -> Any:
        return boto3.client(
            service, region_name=REGION, endpoint_url=endpoint,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
        )  # fmt: skip


@dataclass(frozen=True)
class IamServer:
    endpoint: str
    admin: Keys

    def user(self, policy: dict[str, Any]) -> Keys:
        iam = self.admin.client(self.endpoint, "iam")
        name = f"u-{uuid.uuid4().hex[:10]}"
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Keys(key["AccessKeyId"], key["SecretAccessKey"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(endpoint: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "moto's server exited"
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("moto's server did not answer")


@pytest.fixture(scope="module")
def iam_server() -> Iterator[IamServer]:
    endpoint = f"http://127.0.0.1:{_free_port()}"
    port = endpoint.rsplit(":", 1)[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", port],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_until_up(endpoint, proc)
        # Before the switch, anyone may do anything: make the administrator, then switch.
        bootstrap_keys = Keys("AKIAIOSFODNN7EXAMPLE", "not-checked-yet")
        iam = bootstrap_keys.client(endpoint, "iam")
        iam.create_user(UserName="admin")
        doc = json.dumps(ADMIN_POLICY)
        iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=doc)
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        request = urllib.request.Request(  # every request from now on is checked
            f"{endpoint}/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(request, timeout=5).close()
        with pytest.MonkeyPatch.context() as env:
            for name in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")]:
                env.delenv(name)
            env.delenv("AWS_SESSION_TOKEN", raising=False)
            env.setenv("AWS_ENDPOINT_URL", endpoint)
            env.setenv("AWS_DEFAULT_REGION", REGION)
            yield IamServer(endpoint, Keys(key["AccessKeyId"], key["SecretAccessKey"]))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def worker_policy(settings: Settings, resources: Resources) -> dict[str, Any]:
    """The template's role policy for these resources, as moto can enforce it."""
    names = {
        "InputBucket": settings.input_bucket, "OutputBucket": settings.output_bucket,
        "JobsQueue": resources.queue_arn.rsplit(":", 1)[1],
        "DeadLetterQueue": resources.dlq_url.rsplit("/", 1)[1],
        "EventsTopic": resources.topic_arn.rsplit(":", 1)[1], "JobsTable": resources.table,
        "WorkerLogGroup": "/aws/lambda/ffapi-worker", "WorkerRole": "ffapi-WorkerRole",
    }  # fmt: skip
    parameters = {"WatchPrefix": settings.watch_prefix, "SubmitPrefix": settings.submit_prefix,
                  "OutputPrefix": settings.output_prefix}  # fmt: skip
    [policy] = Stack(load_template(), names, parameters).role_policies()
    for st in statements(policy):
        if all(a.startswith(("sns:", "dynamodb:")) for a in as_list(st["Action"])):
            st["Resource"] = "*"  # moto authorizes these two services against "*"
    return dict(policy)


@dataclass(frozen=True)
class Deployment:
    settings: Settings  # as the template hands them to the function
    resources: Resources
    worker: Keys
    events_queue: str


@pytest.fixture
def deployment(iam_server: IamServer, tmp_path: Path) -> Deployment:
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        region=REGION, input_bucket=f"in-{suffix}", output_bucket=f"out-{suffix}",
        jobs_queue=f"jobs-{suffix}", dead_letter_queue=f"dlq-{suffix}",
        events_topic=f"events-{suffix}", jobs_table=f"jobs-{suffix}", preset="mp4-720p",
        watch_prefix="incoming/", submit_prefix="submitted/", output_prefix="outputs",
        temp_dir=tmp_path / "work",
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as env:
        for name, value in iam_server.admin.env().items():
            env.setenv(name, value)
        resources = bootstrap(settings)
    sqs, sns = (iam_server.admin.client(iam_server.endpoint, s) for s in ("sqs", "sns"))
    events = sqs.create_queue(QueueName=f"sub-{suffix}")["QueueUrl"]
    events_arn = sqs.get_queue_attributes(QueueUrl=events, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=resources.topic_arn, Protocol="sqs",
        Endpoint=events_arn["Attributes"]["QueueArn"], Attributes={"RawMessageDelivery": "true"},
    )  # fmt: skip
    worker = iam_server.user(worker_policy(settings, resources))
    # The template passes the topic's ARN (its Ref), never a name.
    return Deployment(
        settings.model_copy(update={"events_topic": resources.topic_arn}), resources, worker,
        events,
    )  # fmt: skip


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
    assert refused(sqs.send_message, QueueUrl=deployment.resources.queue_url, MessageBody="x")
    assert refused(sqs.receive_message, QueueUrl=deployment.resources.dlq_url)
    assert not refused(s3.put_object, Bucket=s.output_bucket, Key="outputs/x", Body=b"x")


def _poll(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Lambda's SQS poller, with the function's role: receive, and later delete."""
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    resp = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )  # fmt: skip
    return list(resp.get("Messages", []))


def _record(message_id: str, body: str, receive_count: str = "1") -> dict[str, Any]:
    return {"messageId": message_id, "body": body,
            "attributes": {"ApproximateReceiveCount": receive_count}}  # fmt: skip


def test_a_job_runs_on_exactly_the_templates_grants(
    iam_server: IamServer, deployment: Deployment, short_clip: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    s, endpoint = deployment.settings, iam_server.endpoint
    admin_s3 = iam_server.admin.client(endpoint, "s3")
    admin_s3.upload_file(str(short_clip), s.input_bucket, "incoming/clip.mp4")  # -> the queue
    admin_s3.upload_file(str(short_clip), s.input_bucket, "library/clip.mp4")
    admin_s3.upload_file(str(short_clip), s.input_bucket, "submitted/0f3a/clip.mp4")  # ffapi submit
    sqs = deployment.worker.client(endpoint, "sqs")
    messages = []
    deadline = time.monotonic() + 20
    while not any("ObjectCreated" in m["Body"] for m in messages):  # (its key is URL-encoded)
        assert time.monotonic() < deadline, "S3's notification never reached the queue"
        messages += _poll(sqs, deployment.resources.queue_url)
    records = [_record(m["MessageId"], m["Body"]) for m in messages]
    direct = {"submitted": "submitted/0f3a/clip.mp4", "outside": "library/clip.mp4",
              "missing": "incoming/gone.mp4"}  # fmt: skip
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
    events = _drain(iam_server.admin.client(endpoint, "sqs"), deployment.events_queue)
    completed = {e["data"]["input"]["key"]: e["subject"] for e in events
                 if e["type"] == "ffapi.job.completed"}  # fmt: skip
    failed = {e["data"]["input"]["key"]: e["data"]["error"] for e in events
              if e["type"] == "ffapi.job.failed"}  # fmt: skip
    assert set(completed) == {"incoming/clip.mp4", "submitted/0f3a/clip.mp4"}
    assert {k: (e["code"], e["retryable"]) for k, e in failed.items()} == {
        "library/clip.mp4": ("input_forbidden", False),
        "incoming/gone.mp4": ("input_not_found", False),
    }
    written = admin_s3.list_objects_v2(Bucket=s.output_bucket)["Contents"]
    markers = {f"outputs/{job_id}/job.json" for job_id in completed.values()}
    assert markers <= {o["Key"] for o in written}
    assert all(o["Key"].startswith(tuple(m.removesuffix("job.json") for m in markers))
               for o in written)  # fmt: skip


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    events = []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages"
    ):
        for msg in msgs:
            events.append(check_event(msg["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    return events


# S3 answers 403, not 404, for a missing key to a caller that may not list where it lies.
# Users holding part of the worker's grants show how the object store tells the cases apart.


def _bucket_policy(bucket: str, *, get: str | None, listing: bool) -> dict[str, Any]:
    grants: list[dict[str, Any]] = []
    if get is not None:
        grants.append({"Effect": "Allow", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/{get}"})  # fmt: skip
    if listing:
        grants.append({"Effect": "Allow", "Action": "s3:ListBucket",
                       "Resource": f"arn:aws:s3:::{bucket}"})  # fmt: skip
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


def task_role_policy(settings: Settings, resources: Resources) -> dict[str, Any]:
    """docs/iam.md's ECS task role, its example names replaced by this deployment's."""
    text = json.dumps(container_policy())
    for example, real in {
        "my-uploads": settings.input_bucket, "my-renditions": settings.output_bucket,
        "arn:aws:sqs:us-east-1:123456789012:ffapi-jobs": resources.queue_arn,
    }.items():  # fmt: skip
        text = text.replace(example, real)
    policy = json.loads(text)
    for st in statements(policy):
        if all(a.startswith(("sns:", "dynamodb:")) for a in as_list(st["Action"])):
            st["Resource"] = "*"  # moto authorizes these two services against "*"
    # ...and GetQueueUrl too (it finds no queue in the request to name).
    policy["Statement"].append({"Effect": "Allow", "Action": "sqs:GetQueueUrl", "Resource": "*"})
    return dict(policy)


def test_the_container_worker_runs_on_the_documented_task_role(
    iam_server: IamServer, deployment: Deployment, short_clip: Path,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    endpoint = iam_server.endpoint
    worker = iam_server.user(task_role_policy(deployment.settings, deployment.resources))
    # The queue by name, as FFAPI_JOBS_QUEUE usually is: sqs:GetQueueUrl is used too.
    settings = deployment.settings.model_copy(update={"wait_time_seconds": 1})
    assert not settings.jobs_queue.startswith("http")
    admin_s3 = iam_server.admin.client(endpoint, "s3")
    admin_s3.upload_file(str(short_clip), settings.input_bucket, "incoming/clip.mp4")
    for name, value in worker.env().items():
        monkeypatch.setenv(name, value)
    admin_sqs = iam_server.admin.client(endpoint, "sqs")

    async def run() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        async with open_runtime(settings) as rt:
            assert rt.queue is not None
            await rt.queue.backlog()  # /readyz's call
            stop = asyncio.Event()
            running = asyncio.create_task(Worker(rt).run(stop))
            try:
                async with asyncio.timeout(120):
                    while not any(e["type"] == "ffapi.job.completed" for e in events):
                        events += await asyncio.to_thread(
                            _drain, admin_sqs, deployment.events_queue
                        )
            finally:
                stop.set()
                await running
        return events

    events = asyncio.run(run())

    assert [e["type"] for e in events if e["type"] != "ffapi.job.progress"] == [
        "ffapi.job.received", "ffapi.job.started", "ffapi.job.completed",
    ]  # fmt: skip
    left = admin_sqs.get_queue_attributes(
        QueueUrl=deployment.resources.queue_url, AttributeNames=["All"]
    )["Attributes"]
    assert left["ApproximateNumberOfMessages"] == "0"
    assert left["ApproximateNumberOfMessagesNotVisible"] == "0"  # deleted, not left hidden
    # Nothing refused on the way, heartbeats included (a failed one is only logged).
    logged = capfd.readouterr()
    assert "heartbeat.failed" not in logged.err + logged.out
    assert "not authorized" not in logged.err + logged.out
