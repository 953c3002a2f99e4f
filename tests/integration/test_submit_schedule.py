"""`ffapi submit --priority/--not-before/--deadline` against the emulator, as an operator runs
it: the request goes to its class's queue, delayed when it is for later, recorded SCHEDULED at
once so `ffapi jobs` lists it with its time; a bad priority or time is refused before any
upload or send."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from handlers import cli

from .conftest import Stack

pytestmark = pytest.mark.integration


def _job_id(printed: str) -> str:
    found = re.search(r"^job\s+(j-[0-9a-f]{24})\s", printed, re.M)
    assert found, printed
    return found[1]


def test_submit_for_later_goes_to_its_queue_delayed_and_is_listed_scheduled(
    ffapi_env: Stack, short_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    key = "elsewhere/tonight.mp4"
    stack.client("s3").upload_file(str(short_clip), stack.settings.input_bucket, key)
    url = f"s3://{stack.settings.input_bucket}/{key}"
    when = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)
    deadline = when + timedelta(hours=1)

    code = cli.main([
        "submit", url, "--priority", "high", "--not-before", when.isoformat(),
        "--deadline", deadline.isoformat(),
    ])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    job_id = _job_id(printed)
    assert f"scheduled  for {when.isoformat()}" in printed

    sqs = stack.client("sqs")
    high = stack.resources.high_queue_url
    attrs = sqs.get_queue_attributes(
        QueueUrl=high,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    # Delayed (10 min less the lead is within SQS's 15), on the high queue, nowhere else.
    assert attrs == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesDelayed": "1"}
    assert stack.queue_depth(stack.resources.low_queue_url) == 0

    assert cli.main(["jobs", "--status", "scheduled"]) == 0
    listed = capsys.readouterr().out
    assert job_id in listed
    assert "SCHEDULED" in listed
    assert f"not before {when.isoformat()}" in listed

    assert cli.main(["status", job_id, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "SCHEDULED"
    assert record["request"]["priority"] == "high"
    assert datetime.fromisoformat(record["request"]["deadline"]) == deadline


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--priority", "urgent"], "--priority 'urgent': give high, normal or low"),
        (["--not-before", "2026-12-24T18:00:00"], "not_before"),  # no zone
        (
            ["--not-before", "2026-12-24T18:00:00Z", "--deadline", "2026-12-24T17:00:00Z"],
            "deadline must come after not_before",
        ),
    ],
)
def test_submit_refuses_a_bad_priority_or_time(
    ffapi_env: Stack, capsys: pytest.CaptureFixture[str], options: list[str], says: str
) -> None:
    url = f"s3://{ffapi_env.settings.input_bucket}/elsewhere/any.mp4"
    assert cli.main(["submit", url, *options]) == 2
    assert says in capsys.readouterr().err
    assert ffapi_env.queue_depth(ffapi_env.resources.high_queue_url) == 0
