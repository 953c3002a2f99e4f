"""A stack for real worker processes: fresh buckets, queues, topic and table on the shared
moto server, settings fit for short tests, and what a subscriber of the events topic sees."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import boto3

from infra.bootstrap import bootstrap
from infra.settings import Settings
from tests.event_contract import check_event
from tests.integration.conftest import Stack, subscribe_queue

from .fleet import wait_for

REGION = "us-east-1"


def fleet_settings(root: Path, **overrides: Any) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "region": REGION,
        "input_bucket": f"in-{suffix}",
        "output_bucket": f"out-{suffix}",
        "jobs_queue": f"jobs-{suffix}",
        "dead_letter_queue": f"dlq-{suffix}",
        "events_topic": f"events-{suffix}",
        "jobs_table": f"jobs-{suffix}",
        "preset": "mp4-720p",
        "wait_time_seconds": 1,
        "visibility_timeout": 10,  # the least the worker accepts: a killed job waits this long
        "max_receive_count": 4,
        "retry_backoff_base": 0.2,
        "worker_concurrency": 1,
        "drain_seconds": 5,
        "temp_dir": root,
        **overrides,
    }
    return Settings(**values)


class FleetStack(Stack):
    """A stack whose clients are safe to use from several threads at once (boto3's default
    session is not): trials of one case run side by side."""

    _local = threading.local()

    def client(self, service: str) -> Any:
        if not hasattr(self._local, "session"):
            self._local.session = boto3.session.Session()
        return self._local.session.client(service, region_name=REGION)


def make_fleet_stack(root: Path, **overrides: Any) -> FleetStack:
    """A fresh set of buckets, queues, topic and table on the shared server (the emulator
    must be up), with ``root`` for the workers' directories."""
    root.mkdir(parents=True, exist_ok=True)
    settings = fleet_settings(root, **overrides)
    return FleetStack(settings, bootstrap(settings))


class EventLog:
    """What a subscriber of the topic sees (every event checked against the contract)."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._url = subscribe_queue(stack)
        self.events: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        """Take what has arrived (a bounded read: progress events keep coming while jobs
        run, so reading until the queue is empty could take as long as the jobs)."""
        sqs = self._stack.client("sqs")
        for _ in range(20):
            batch = sqs.receive_message(
                QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            for message in batch:
                self.events.append(check_event(message["Body"]))
                sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])
            if len(batch) < 10:
                break
        return self.events

    def of_type(self, suffix: str, job_id: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["type"] == f"ffapi.job.{suffix}" and job_id in (None, e["subject"])
        ]

    def wait_terminal(self, count: int, timeout: float) -> list[dict[str, Any]]:
        def terminal() -> list[dict[str, Any]]:
            self.poll()
            done = self.of_type("completed") + self.of_type("failed")
            return done if len(done) >= count else []

        return list(wait_for(terminal, timeout, f"{count} final event(s)", every=0))


def queue_empty(stack: Stack) -> bool:
    return stack.queue_depth(stack.resources.queue_url) == 0
