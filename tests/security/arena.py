"""One run of every security case against real workers: submit them all at once, wait until
the queue is settled, then gather the evidence and judge each case from it.

Evidence comes from outside the worker only: the events a subscriber of the topic receives,
the workers' JSON logs, the measuring ffmpeg/ffprobe stand-ins (tests/harness/tools.py), the
canary's record of connections, and what the buckets and the job table hold afterwards.

A case passes with: the outcome it expects (one terminal event and its code, or none),
each message received once, no canary hit, the secret in no object, event, log line, job
record or argv, injected text in no argv, no tool run for a refusal before the download
and no ffmpeg for refused media, and every child and worker under 512 MiB.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from tests.harness.fleet import Fleet, wait_for
from tests.harness.stack import EventLog, FleetStack
from tests.harness.tools import ToolRun, runs_for

from .canary import Canary, Hit
from .cases import MEDIA_CODES, UNOPENED_CODES, Case, Ctx
from .hostile import MediaFixtures

MIB = 1024
# Stated bounds: every ffprobe/ffmpeg child, and each worker process, stays under these.
MAX_CHILD_RSS_KIB = 512 * MIB
MAX_WORKER_RSS_KIB = 512 * MIB
SETTLE_TIMEOUT = 150.0  # seconds for every case to be settled; each case fails on its own
QUIET_SECONDS = 5.0  # queue empty and no new event this long: nothing more is coming

TERMINAL = ("ffapi.job.completed", "ffapi.job.failed")
# What a job.failed event must not carry (core/events/scrub.py): a tool's memory address
# (`[png @ 0x55…]`; not the 0x of 16000x16000), or an absolute path or file: URL.
INTERNALS = re.compile(r"\b0x[0-9a-fA-F]+|file:|(?<![\w.:/-])/(?!/)[\w.-]+/")
_TAG_LETTERS = "ghjkmnpqrstvwxyz"  # no hex digit: a tag never occurs inside a message id


@dataclass
class Sent:
    case: Case
    ctx: Ctx
    message_ids: list[str] = field(default_factory=list)
    refused_by_aws: str | None = None  # S3 or SQS refused the submission itself

    @property
    def tag(self) -> str:
        return self.ctx.tag


@dataclass
class Verdict:
    """Everything observed of one case."""

    sent: Sent
    events: list[dict[str, Any]]
    job_ids: set[str]
    deliveries: dict[str, list[int]]  # message id -> receive counts of its deliveries
    returned: int  # deliveries handed back to the queue for a retry
    runs: list[ToolRun]
    hits: list[Hit]
    injected_in_argv: list[str]
    leaks: list[str]

    @property
    def case(self) -> Case:
        return self.sent.case

    @property
    def terminal(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] in TERMINAL]

    def outcome(self) -> str:
        """'completed', the failure's code, 'ignored' (no job), or what went wrong."""
        if len(self.terminal) > 1:
            return f"{len(self.terminal)} terminal events"
        if not self.terminal:
            return "ignored"
        event = self.terminal[0]
        if event["type"] == "ffapi.job.completed":
            return "completed"
        error = event["data"]["error"]
        return error["code"] if not error["retryable"] else f"{error['code']} (retryable)"

    def as_expected(self) -> bool:
        expect, outcome = self.case.expect, self.outcome()
        return (
            outcome in expect.codes
            or (outcome == "completed" and expect.completes)
            or (outcome == "ignored" and expect.ignored)
        )

    @property
    def peak_child_kib(self) -> int:
        return max((r.maxrss_kib or 0 for r in self.runs), default=0)

    def problems(self) -> list[str]:
        """What this case did wrong; empty when it behaved as the issue asks."""
        return [*self._delivery_problems(), *self._containment_problems(), *self._tool_problems()]

    def _delivery_problems(self) -> list[str]:
        """Sent, handled once, with the outcome expected."""
        found = []
        if self.sent.refused_by_aws:
            found.append(f"not submitted: {self.sent.refused_by_aws}")
        if not self.as_expected():
            found.append(f"outcome {self.outcome()}, expected {self.case.expect.label}")
        for message_id, counts in self.deliveries.items():
            if counts != [1]:
                found.append(f"message {message_id} received with counts {sorted(counts)}")
        if self.returned:
            found.append(f"{self.returned} deliveries handed back for a retry")
        return found

    def _containment_problems(self) -> list[str]:
        """Nothing reached out, nothing was injected, nothing leaked."""
        found = []
        if self.hits:
            paths = sorted({h.path for h in self.hits if h.path})
            found.append(f"{len(self.hits)} canary hits (connections, requests for {paths})")
        if self.injected_in_argv:
            found.append(f"injected text in ffmpeg/ffprobe argv: {self.injected_in_argv}")
        if self.leaks:
            found.append(f"the canary's secret in: {self.leaks}")
        found += [
            f"job.failed event says {match.group()!r}"
            for e in self.terminal
            if e["type"] == "ffapi.job.failed"
            if (match := INTERNALS.search(json.dumps(e["data"]["error"])))
        ]
        return found

    def _tool_problems(self) -> list[str]:
        """The tools ran only for what they had to, within their memory."""
        outcome, found = self.outcome(), []
        tools = sorted({r.tool for r in self.runs})
        if (outcome in UNOPENED_CODES or outcome == "ignored") and tools:
            found.append(f"refused before its download, yet {tools} ran for it")
        encodes = [r for r in self.runs if r.tool == "ffmpeg"]
        if outcome in MEDIA_CODES and encodes and not self.case.expect.may_encode:
            found.append(f"refused media, yet ffmpeg ran {len(encodes)} time(s)")
        if self.peak_child_kib > MAX_CHILD_RSS_KIB:
            found.append(f"a child peaked at {self.peak_child_kib // MIB} MiB")
        return found


class Arena:
    def __init__(
        self,
        stack: FleetStack,
        fleet: Fleet,
        canary: Canary,
        media: MediaFixtures,
        foreign_bucket: str,
    ) -> None:
        self.stack = stack
        self.fleet = fleet
        self.canary = canary
        self.media = media
        self.foreign_bucket = foreign_bucket
        self.events = EventLog(stack)
        self.session = "".join(secrets.choice(_TAG_LETTERS) for _ in range(5))
        self.worker_peaks: dict[str, int] = {}
        self.runs_before_jobs = 0

    def start(self, names: tuple[str, ...], webhook_secrets: str) -> None:
        """Start the workers and wait until each polls the queue; a worker that cannot
        start fails the run at once, with its last words."""
        for name in names:
            self.fleet.start(name, webhook_secrets=webhook_secrets)

        def polling() -> bool:
            for worker in self.fleet.workers:
                if not worker.alive():
                    tail = worker.log_path.read_text(errors="replace")[-2000:]
                    raise AssertionError(f"worker {worker.name} exited at start:\n{tail}")
            return all(
                any(line.get("event") == "worker.started" for line in w.log())
                for w in self.fleet.workers
            )

        wait_for(polling, 120, "the workers to start")
        # From here every ffmpeg/ffprobe run is a job's (the accelerator probe is done).
        self.runs_before_jobs = len(self.fleet.tool_runs())

    def submit(self, cases: tuple[Case, ...]) -> list[Sent]:
        s3, sqs = self.stack.client("s3"), self.stack.client("sqs")
        sent = []
        for index, case in enumerate(cases):
            ctx = Ctx(
                f"t{index:03d}{self.session}",
                self.stack.settings,
                self.canary,
                self.media,
                self.foreign_bucket,
            )
            one = Sent(case, ctx)
            sent.append(one)
            try:
                submission = case.build(ctx)
                for put in submission.puts:
                    s3.put_object(
                        Bucket=put.bucket, Key=put.key, Body=put.body, ContentType=put.content_type
                    )
                if submission.body is not None:
                    reply = sqs.send_message(
                        QueueUrl=self.stack.resources.queue_url, MessageBody=submission.body
                    )
                    one.message_ids.append(reply["MessageId"])
            except Exception as exc:  # recorded: the case fails with the reason, not the run
                one.refused_by_aws = f"{type(exc).__name__}: {exc}"[:300]
        return sent

    def settle(self, sent: list[Sent], timeout: float = SETTLE_TIMEOUT) -> float:
        """Wait until every case that expects a job has its final event and the queue is
        empty, or the queue has been empty and the topic silent for QUIET_SECONDS. Returns
        the seconds it took."""
        began = time.monotonic()
        quiet_since, seen = time.monotonic(), -1
        while time.monotonic() - began < timeout:
            count = len(self.events.poll())
            if count != seen:
                quiet_since, seen = time.monotonic(), count
            if self.stack.queue_depth(self.stack.resources.queue_url) != 0:
                quiet_since = time.monotonic()
                continue
            waiting = [s for s in sent if self._awaits_final(s)]
            if not waiting or time.monotonic() - quiet_since > QUIET_SECONDS:
                break
        self.events.poll()
        return time.monotonic() - began

    def _awaits_final(self, sent: Sent) -> bool:
        expect = sent.case.expect
        if sent.refused_by_aws or (expect.ignored and not expect.codes):
            return False
        owned = [e for e in self.events.events if _owns(sent, e) and e["type"] in TERMINAL]
        return not owned

    def stop(self) -> None:
        """Note each worker's peak memory while it lives, then stop them."""
        for worker in self.fleet.running():
            self.worker_peaks[worker.name] = worker.peak_rss_kib()
        self.fleet.stop()

    def judge(self, sent: list[Sent]) -> tuple[list[Verdict], list[ToolRun]]:
        """Each case's verdict, and the tool runs no case owns."""
        logs = [line for w in self.fleet.workers for line in w.log()]
        runs = self.fleet.tool_runs()
        verdicts = [self._verdict(s, logs, runs) for s in sent]
        owned = {id(r) for v in verdicts for r in v.runs}
        stray = [r for r in runs[self.runs_before_jobs :] if id(r) not in owned]
        return verdicts, stray

    def _verdict(self, sent: Sent, logs: list[dict[str, Any]], runs: list[ToolRun]) -> Verdict:
        events = self.events.events
        job_ids = {e["subject"] for e in events if _owns(sent, e)}
        mine = [e for e in events if e["subject"] in job_ids]
        message_ids = set(sent.message_ids) | {
            line["message_id"]
            for line in logs
            if line.get("job_id") in job_ids and "message_id" in line
        }
        deliveries = {
            m: [
                line["receive_count"]
                for line in logs
                if line.get("event") == "message.received" and line.get("message_id") == m
            ]
            for m in message_ids
        }
        returned = sum(
            line.get("event") == "message.returned" and line.get("message_id") in message_ids
            for line in logs
        )
        case_runs = [r for j in job_ids for r in runs_for(runs, j)]
        marks = sent.case.marks(sent.ctx)
        injected = sorted({m for r in runs for m in marks if r.mentions(m)})
        case_lines = [
            line
            for line in logs
            if line.get("message_id") in message_ids or line.get("job_id") in job_ids
        ]
        secret = self.canary.secret
        leaks = [f"event {e['type']}" for e in mine if secret in json.dumps(e)]
        leaks += [f"log {line.get('event')}" for line in case_lines if secret in json.dumps(line)]
        return Verdict(
            sent,
            mine,
            job_ids,
            deliveries,
            returned,
            case_runs,
            self.canary.hits_on(sent.tag),
            injected,
            leaks,
        )

    def leaks(self) -> list[str]:
        """Everywhere the secret is, among all the worker wrote or said: every object in
        every bucket of the run, the job table, every event, every log line, every argv."""
        secret = self.canary.secret
        found = []
        s3 = self.stack.client("s3")
        settings = self.stack.settings
        for bucket in (settings.input_bucket, settings.output_bucket, self.foreign_bucket):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    if secret.encode() in body:
                        found.append(f"s3://{bucket}/{obj['Key']}")
        scan = self.stack.client("dynamodb").get_paginator("scan")
        for page in scan.paginate(TableName=settings.jobs_table):
            found += [
                f"jobs table {item['job_id']['S']}"
                for item in page["Items"]
                if secret in json.dumps(item)
            ]
        found += [f"event {e['subject']}" for e in self.events.events if secret in json.dumps(e)]
        for worker in self.fleet.workers:
            text = worker.log_path.read_text(errors="replace")
            found += [f"{worker.name} log line" for line in text.splitlines() if secret in line]
        if self.fleet.tool_log.exists() and secret in self.fleet.tool_log.read_text():
            found.append("an ffmpeg/ffprobe argv")
        return found


def _owns(sent: Sent, event: dict[str, Any]) -> bool:
    """An event of this case's job: carried by its message, or naming its tag."""
    data = event["data"]
    correlation = data.get("correlation_id") or ""
    key = (data.get("input") or {}).get("key") or ""
    return correlation in sent.message_ids or sent.tag in correlation or sent.tag in key
