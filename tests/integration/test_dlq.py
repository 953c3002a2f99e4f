"""`ffapi dlq list|redrive` against the emulator: dead letters seen without being consumed,
moved back one by one or all, each to its priority class's queue, and a poison message's whole
round trip."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from core.ports import QueueMessage
from handlers import cli
from infra.aws import open_clients
from infra.dead_letters import SweptDeadLetters

from .conftest import Stack, job_record, run_worker

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
ORIGIN = {"origin": {"DataType": "String", "StringValue": "test-suite"}}
MARKUP = "[bold red]not a job[/bold red] " + "x" * 80  # text, longer than the preview


def _s3_event(stack: Stack) -> str:
    event = json.loads((EVENTS / "s3-put.json").read_text())
    event["Records"][0]["s3"]["bucket"]["name"] = stack.settings.input_bucket
    return json.dumps(event)  # key as S3 encodes it: incoming/My+Clip%2B1.mp4


def _job_request(stack: Stack, **changes: str) -> str:
    request = json.loads((EVENTS / "job-request.json").read_text())
    request["input"]["bucket"] = stack.settings.input_bucket
    request["output"]["bucket"] = stack.settings.output_bucket
    return json.dumps({**request, **changes})


def _dead_letters(stack: Stack) -> dict[str, str]:
    """Three letters straight into the DLQ; their bodies by message id."""
    sqs, url = stack.client("sqs"), stack.resources.dlq_url
    ids = {}
    for body in (_s3_event(stack), _job_request(stack), MARKUP):
        extra: dict[str, Any] = {"MessageAttributes": ORIGIN} if body is MARKUP else {}
        ids[sqs.send_message(QueueUrl=url, MessageBody=body, **extra)["MessageId"]] = body
    return ids


def _dead_lettered_by(stack: Stack, url: str, body: str) -> str:
    """Sent to ``url`` and received until that queue's redrive policy moves it to the DLQ."""
    sqs = stack.client("sqs")
    message_id = str(sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"])
    for _ in range(stack.settings.max_receive_count):
        [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, VisibilityTimeout=0)[
            "Messages"
        ]
        assert message["MessageId"] == message_id
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)  # moved
    return message_id


def _visible(stack: Stack, url: str) -> tuple[int, int]:
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attrs["ApproximateNumberOfMessages"]),
        int(attrs["ApproximateNumberOfMessagesNotVisible"]),
    )


def _drain_jobs(stack: Stack, url: str = "") -> list[dict[str, Any]]:
    """Every message on the jobs queue (or ``url``) but S3's s3:TestEvent (bootstrap's)."""
    sqs, url = stack.client("sqs"), url or stack.resources.queue_url
    found: list[dict[str, Any]] = []
    while True:
        msgs = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])  # fmt: skip
        if not msgs:
            return [m for m in found if "s3:TestEvent" not in m["Body"]]
        for msg in msgs:
            found.append(msg)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])


def test_list_shows_each_dead_letter_and_leaves_it_visible(
    ffapi_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    letters = _dead_letters(stack)

    assert cli.main(["dlq", "list"]) == 0

    shown = capsys.readouterr().out
    for message_id in letters:
        assert message_id in shown
    bucket = stack.settings.input_bucket
    assert f"s3://{bucket}/incoming/My Clip+1.mp4" in shown  # decoded as the worker reads it
    assert f"s3://{bucket}/library/talk.mp4 preset mp4-480p" in shown
    assert MARKUP[:60] + "..." in shown  # plain text: the brackets printed, not styled
    assert _visible(stack, stack.resources.dlq_url) == (3, 0)

    assert cli.main(["dlq", "list", "--json", "--limit", "2"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 2
    for message in listed:
        assert message["Body"] == letters[message["MessageId"]]
        assert "ReceiptHandle" not in message
        assert int(message["Attributes"]["ApproximateReceiveCount"]) >= 1
    assert _visible(stack, stack.resources.dlq_url) == (3, 0)


def test_list_of_an_empty_dlq_says_so(ffapi_env: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dlq", "list"]) == 0
    assert f"no dead letters in {ffapi_env.settings.dead_letter_queue}" in capsys.readouterr().out


def test_redrive_moves_the_named_letter_then_the_rest(
    ffapi_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    letters = _dead_letters(stack)
    markup_id = next(i for i, body in letters.items() if body is MARKUP)

    assert cli.main(["dlq", "redrive", markup_id]) == 0

    printed = capsys.readouterr().out
    assert f"moved      {markup_id}" in printed
    assert "1 moved from" in printed
    [moved] = _drain_jobs(stack)
    assert moved["Body"] == MARKUP
    assert moved["MessageAttributes"] == ORIGIN
    assert _visible(stack, stack.resources.dlq_url) == (2, 0)

    assert cli.main(["dlq", "redrive", "--all", "--limit", "1"]) == 0
    assert "1 moved from" in capsys.readouterr().out
    assert _visible(stack, stack.resources.dlq_url) == (1, 0)

    assert cli.main(["dlq", "redrive", "--all"]) == 0
    assert "1 moved from" in capsys.readouterr().out
    rest = {m["Body"] for m in _drain_jobs(stack)}
    assert rest == {body for i, body in letters.items() if i != markup_id}
    assert stack.queue_depth(stack.resources.dlq_url) == 0


def test_redrive_sends_each_letter_back_to_its_priority_class_queue(
    ffapi_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, res, settings = ffapi_env, ffapi_env.resources, ffapi_env.settings
    bodies = {
        "high": _job_request(stack, priority="high"),
        "low": _job_request(stack, priority="low"),
        "normal": _s3_event(stack),
    }
    high = _dead_lettered_by(stack, res.high_queue_url, bodies["high"])
    low = _dead_lettered_by(stack, res.low_queue_url, bodies["low"])
    sqs = stack.client("sqs")  # the jobs queue holds bootstrap's s3:TestEvent: straight in
    normal = sqs.send_message(QueueUrl=res.dlq_url, MessageBody=bodies["normal"])["MessageId"]

    assert cli.main(["dlq", "list", "--json"]) == 0
    listed = {m["MessageId"]: m["Priority"] for m in json.loads(capsys.readouterr().out)}
    assert listed == {high: "high", low: "low", normal: "normal"}
    assert cli.main(["dlq", "list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert {row[0]: row[4] for row in rows if row[0] in listed} == listed

    assert cli.main(["dlq", "redrive", "--all"]) == 0

    printed = capsys.readouterr().out
    assert f"moved      {high}  high    " in printed
    names = settings.lane_names()
    assert (
        f"3 moved from {settings.dead_letter_queue}: 1 to {names['high']} (high), "
        f"1 to {names['normal']} (normal), 1 to {names['low']} (low)"
    ) in printed
    assert stack.queue_depth(res.dlq_url) == 0
    for lane, url in (("high", res.high_queue_url), ("low", res.low_queue_url), ("normal", "")):
        assert [m["Body"] for m in _drain_jobs(stack, url)] == [bodies[lane]]


def test_without_priority_queues_every_letter_goes_back_to_the_jobs_queue(
    ffapi_env: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, res = ffapi_env, ffapi_env.resources
    body = _job_request(stack, priority="high")
    letter = _dead_lettered_by(stack, res.high_queue_url, body)  # before they were turned off
    monkeypatch.setenv("FFAPI_PRIORITY_QUEUES", "false")

    assert cli.main(["dlq", "redrive", letter]) == 0

    assert f"1 to {stack.settings.jobs_queue} (high)" in capsys.readouterr().out
    assert [m["Body"] for m in _drain_jobs(stack)] == [body]
    assert stack.queue_depth(res.high_queue_url) == 0


def test_redrive_of_an_unknown_id_exits_1_and_moves_nothing(
    ffapi_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    _dead_letters(stack)

    assert cli.main(["dlq", "redrive", "00000000-0000-0000-0000-000000000000"]) == 1

    captured = capsys.readouterr()
    assert "0 moved from" in captured.out
    assert "no dead letter 00000000-0000-0000-0000-000000000000" in captured.err
    assert _visible(stack, stack.resources.dlq_url) == (3, 0)
    assert _drain_jobs(stack) == []


def test_redrive_wants_ids_or_all_but_not_both(
    ffapi_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["dlq", "redrive"]) == 2
    assert cli.main(["dlq", "redrive", "some-id", "--all"]) == 2
    assert "name the dead letters to move, or --all" in capsys.readouterr().err


def test_a_poison_message_dead_lettered_by_the_queue_is_redriven_and_then_runs(
    ffapi_env: Stack, short_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, settings = ffapi_env, ffapi_env.settings
    stack.client("s3").upload_file(
        str(short_clip), settings.input_bucket, f"{settings.watch_prefix}clip.mp4"
    )
    # The destination bucket does not exist yet: every upload fails, as in an S3 outage.
    missing = f"{settings.output_bucket}-later"
    broken = settings.model_copy(update={"output_bucket": missing})
    [failed] = run_worker(
        stack, settings=broken, settle=20.0,
        until=lambda: stack.queue_depth(stack.resources.dlq_url) == 1,
    ).of_type("failed")  # fmt: skip
    assert stack.queue_depth(stack.resources.dlq_url) == 1  # the redrive policy moved it
    capsys.readouterr()

    assert cli.main(["dlq", "list", "--json"]) == 0
    [letter] = json.loads(capsys.readouterr().out)
    assert int(letter["Attributes"]["ApproximateReceiveCount"]) >= settings.max_receive_count

    assert cli.main(["dlq", "redrive", "--all"]) == 0
    assert f"moved      {letter['MessageId']}" in capsys.readouterr().out
    assert stack.queue_depth(stack.resources.dlq_url) == 0
    sqs = stack.client("sqs")
    waiting = sqs.receive_message(
        QueueUrl=stack.resources.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    )["Messages"]
    assert letter["Body"] in [m["Body"] for m in waiting]
    for m in waiting:  # looked at, not taken: the worker below gets them
        sqs.change_message_visibility(
            QueueUrl=stack.resources.queue_url, ReceiptHandle=m["ReceiptHandle"],
            VisibilityTimeout=0,
        )  # fmt: skip

    # The cause fixed (the bucket exists now), the same job is claimed again and completes.
    stack.client("s3").create_bucket(Bucket=missing)
    [completed] = run_worker(stack, settings=broken).of_type("completed")
    assert completed["subject"] == failed["subject"]
    assert job_record(stack, failed["subject"])["status"]["S"] == "COMPLETED"


def test_the_sweeps_visit_hands_over_each_letter_and_leaves_it_visible(ffapi_env: Stack) -> None:
    """What the worker's dead-letter sweep reads (``DeadLetters.visit``): every letter once,
    with the message id the jobs queue gave it, and all of them still in the DLQ after."""
    stack = ffapi_env
    letters = _dead_letters(stack)
    seen: list[QueueMessage] = []

    async def visit() -> int:
        async def look(letter: QueueMessage) -> None:
            assert _visible(stack, stack.resources.dlq_url)[1] >= 1  # hidden while visited
            seen.append(letter)

        async with open_clients(stack.settings) as clients:
            dlq = SweptDeadLetters(clients.sqs, stack.settings)
            return await dlq.visit(10, look) + await dlq.visit(2, lambda _: asyncio.sleep(0))

    assert asyncio.run(visit()) == 5
    assert {m.message_id: m.body for m in seen} == letters
    assert _visible(stack, stack.resources.dlq_url) == (3, 0)
