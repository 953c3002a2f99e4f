"""moto's server in a process of its own with its IAM access control switched on, for the
tests/integration/test_iam_*.py modules: an administrator, users holding exactly a given
policy, and a deployment whose worker user holds the template's role policy.

What moto checks: the action of every call, and the resource for S3 (bucket and object ARNs)
and SQS (the queue's ARN). What it does not, so tests/deploy does: SNS, DynamoDB and
sqs:GetQueueUrl calls are authorized against "*" (those grants are widened to "*" here, their
ARNs checked statically), and the ``s3:prefix`` condition is not evaluated (so listings are
checked statically too). A separate server process: the switch is global to moto's process.
The fixtures over these (`iam_server`, `deployment`) are in conftest.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.bootstrap import Resources, bootstrap
from infra.settings import Settings
from tests.event_contract import check_event
from tests.template_role import Stack, as_list, load_template, statements

REGION = "us-east-1"
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def client(self, endpoint: str, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )


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


@contextmanager
def serve_iam() -> Iterator[IamServer]:
    """The server, its administrator, and AWS_* variables pointing at it while it runs."""
    endpoint = f"http://127.0.0.1:{_free_port()}"
    port = endpoint.rsplit(":", 1)[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", port],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
        "InputBucket": settings.input_bucket,
        "OutputBucket": settings.output_bucket,
        "JobsQueue": resources.queue_arn.rsplit(":", 1)[1],
        "DeadLetterQueue": resources.dlq_url.rsplit("/", 1)[1],
        "HighJobsQueue": resources.high_queue_url.rsplit("/", 1)[1],
        "LowJobsQueue": resources.low_queue_url.rsplit("/", 1)[1],
        "EventsTopic": resources.topic_arn.rsplit(":", 1)[1],
        "JobsTable": resources.table,
        "WorkerLogGroup": "/aws/lambda/ffapi-worker",
        "WorkerRole": "ffapi-WorkerRole",
    }
    parameters = {
        "WatchPrefix": settings.watch_prefix,
        "SubmitPrefix": settings.submit_prefix,
        "OutputPrefix": settings.output_prefix,
    }
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


def deploy(iam_server: IamServer, tmp_path: Path) -> Deployment:
    """Fresh resources, a queue subscribed to their topic, and a worker user holding the
    template's role policy for them."""
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        region=REGION,
        input_bucket=f"in-{suffix}",
        output_bucket=f"out-{suffix}",
        jobs_queue=f"jobs-{suffix}",
        dead_letter_queue=f"dlq-{suffix}",
        events_topic=f"events-{suffix}",
        jobs_table=f"jobs-{suffix}",
        preset="mp4-720p",
        watch_prefix="incoming/",
        submit_prefix="submitted/",
        output_prefix="outputs",
        temp_dir=tmp_path / "work",
    )
    with pytest.MonkeyPatch.context() as env:
        for name, value in iam_server.admin.env().items():
            env.setenv(name, value)
        resources = bootstrap(settings)
    sqs, sns = (iam_server.admin.client(iam_server.endpoint, s) for s in ("sqs", "sns"))
    events = sqs.create_queue(QueueName=f"sub-{suffix}")["QueueUrl"]
    events_arn = sqs.get_queue_attributes(QueueUrl=events, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=resources.topic_arn,
        Protocol="sqs",
        Endpoint=events_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    worker = iam_server.user(worker_policy(settings, resources))
    # The template passes the topic's ARN (its Ref), never a name.
    return Deployment(
        settings.model_copy(update={"events_topic": resources.topic_arn}),
        resources,
        worker,
        events,
    )


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    events = []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages"
    ):
        for msg in msgs:
            events.append(check_event(msg["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    return events
