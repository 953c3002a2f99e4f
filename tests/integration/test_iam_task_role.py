"""The container worker's task role, enforced: a real job runs through `Worker` with the
credentials of an IAM user holding the ECS fleets' task role (templates/fleet.yaml, resolved
for this deployment; tests/deploy holds it to the one docs/iam.md shows), on moto's server
with its IAM access control switched on (`moto_iam`), the queue found by name and nothing
refused.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from handlers.runtime import open_runtime
from handlers.worker import Worker
from infra.bootstrap import Resources
from infra.settings import Settings
from tests.integration.moto_iam import Deployment, IamServer, drain
from tests.template_role import as_list, fleet_task_policy, statements

pytestmark = pytest.mark.integration

FINAL = ("ffapi.job.completed", "ffapi.job.failed")


def task_role_policy(settings: Settings, resources: Resources) -> dict[str, Any]:
    """The fleet stack's task role, given this deployment's resources as the root stack
    gives them (its task-protection and metrics statements name calls moto never sees)."""
    policy = fleet_task_policy(
        {
            "InputBucket": settings.input_bucket,
            "OutputBucket": settings.output_bucket,
            "WatchPrefix": settings.watch_prefix,
            "SubmitPrefix": settings.submit_prefix,
            "OutputPrefix": settings.output_prefix,
            "QueueArn": resources.queue_arn,
            "DeadLetterQueueName": resources.dlq_url.rsplit("/", 1)[1],
            "HighQueueName": resources.high_queue_url.rsplit("/", 1)[1],
            "LowQueueName": resources.low_queue_url.rsplit("/", 1)[1],
            "EventsTopic": resources.topic_arn,
            "JobsTable": resources.table,
        }
    )
    for st in statements(policy):
        if all(a.startswith(("sns:", "dynamodb:")) for a in as_list(st["Action"])):
            st["Resource"] = "*"  # moto authorizes these two services against "*"
    # ...and GetQueueUrl too (it finds no queue in the request to name).
    policy["Statement"].append({"Effect": "Allow", "Action": "sqs:GetQueueUrl", "Resource": "*"})
    return dict(policy)


@pytest.mark.parametrize("topic_form", ["arn", "name"])
def test_the_container_worker_runs_on_the_fleets_task_role(
    iam_server: IamServer,
    deployment: Deployment,
    short_clip: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    topic_form: str,
) -> None:
    endpoint = iam_server.endpoint
    worker = iam_server.user(task_role_policy(deployment.settings, deployment.resources))
    # The queue by name, as FFAPI_JOBS_QUEUE usually is: sqs:GetQueueUrl is used too. The
    # topic by name needs no more: its account comes from the queue's ARN (no STS).
    topic = deployment.resources.topic_arn
    settings = deployment.settings.model_copy(
        update={
            "wait_time_seconds": 1,
            "events_topic": topic if topic_form == "arn" else topic.rsplit(":", 1)[1],
        }
    )
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
                async with asyncio.timeout(120):  # until the job's final event, either one
                    while not any(e["type"] in FINAL for e in events):
                        events += await asyncio.to_thread(drain, admin_sqs, deployment.events_queue)
            finally:
                stop.set()
                await running
        return events

    events = asyncio.run(run())

    refusals = [e["data"]["error"] for e in events if e["type"] == "ffapi.job.failed"]
    assert not refusals, refusals  # e.g. input_forbidden: a grant the role lacks, or moto's
    assert [e["type"] for e in events if e["type"] != "ffapi.job.progress"] == [
        "ffapi.job.received",
        "ffapi.job.started",
        "ffapi.job.completed",
    ]
    left = admin_sqs.get_queue_attributes(
        QueueUrl=deployment.resources.queue_url, AttributeNames=["All"]
    )["Attributes"]
    assert left["ApproximateNumberOfMessages"] == "0"
    assert left["ApproximateNumberOfMessagesNotVisible"] == "0"  # deleted, not left hidden
    # Nothing refused on the way, heartbeats included (a failed one is only logged).
    logged = capfd.readouterr()
    assert "heartbeat.failed" not in logged.err + logged.out
    assert "not authorized" not in logged.err + logged.out
