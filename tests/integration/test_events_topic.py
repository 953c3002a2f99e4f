"""FFAPI_EVENTS_TOPIC given as a name or as an ARN, with STS out of reach (as on a LocalStack
started without it): the worker, `ffapi events tail` and `ffapi bootstrap` take either form,
and none of them asks STS for the account."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from core.errors import InvalidTopic
from handlers import cli
from infra.bootstrap import bootstrap
from infra.topic import Arn

from .conftest import REGION, Stack, run_worker
from .test_cli import _tail_queues, _tail_subscriptions, _wait_until

pytestmark = pytest.mark.integration

FORMS = ["name", "arn"]


@pytest.fixture
def no_sts(monkeypatch: pytest.MonkeyPatch) -> None:
    """STS at a closed port on loopback: any call to it fails (checked here, once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{port}")
    sts = boto3.client("sts", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(EndpointConnectionError):
        sts.get_caller_identity()


def topic_setting(stack: Stack, form: str) -> str:
    return stack.settings.events_topic if form == "name" else stack.resources.topic_arn


@pytest.mark.parametrize("form", FORMS)
def test_the_worker_publishes_to_the_topic_given_either_way(
    stack: Stack, no_sts: None, short_clip: Path, form: str
) -> None:
    assert not stack.settings.events_topic.startswith("arn:")
    settings = stack.settings.model_copy(update={"events_topic": topic_setting(stack, form)})
    key = f"{settings.watch_prefix}topic-{form}.mp4"
    stack.client("s3").upload_file(str(short_clip), settings.input_bucket, key)

    scenario = run_worker(stack, settings=settings)

    [completed] = scenario.of_type("completed")
    assert [e["type"].removeprefix("ffapi.job.") for e in scenario.events] == [
        "received",
        "started",
        "completed",
    ]
    assert completed["data"]["input"]["key"] == key


@pytest.mark.parametrize("form", FORMS)
def test_events_tail_follows_the_topic_given_either_way(
    ffapi_env: Stack,
    no_sts: None,
    form: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = ffapi_env
    monkeypatch.setenv("FFAPI_EVENTS_TOPIC", topic_setting(stack, form))
    codes: list[int] = []
    argv = ["events", "tail", "--count", "1"]
    tail = threading.Thread(target=lambda: codes.append(cli.main(argv)))
    tail.start()
    _wait_until(lambda: _tail_subscriptions(stack))
    event = {
        "type": "ffapi.job.received",
        "subject": "j-topic",
        "time": "2026-01-01T00:00:00Z",
        "data": {"attempt": 1, "preset": "mp4-720p"},
    }
    stack.client("sns").publish(TopicArn=stack.resources.topic_arn, Message=json.dumps(event))
    tail.join(timeout=60)

    assert codes == [0]
    captured = capsys.readouterr()
    assert f"tailing {stack.resources.topic_arn} " in captured.err
    [line] = captured.out.splitlines()
    assert line.split()[1:3] == ["received", "j-topic"]
    assert _tail_subscriptions(stack) == []
    assert _tail_queues(stack) == []


@pytest.mark.parametrize("form", FORMS)
def test_bootstrap_takes_the_topic_either_way(
    ffapi_env: Stack,
    no_sts: None,
    form: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = ffapi_env
    monkeypatch.setenv("FFAPI_EVENTS_TOPIC", topic_setting(stack, form))

    assert cli.main(["bootstrap"]) == 0

    assert json.loads(capsys.readouterr().out) == stack.resources.as_dict()


def test_bootstrap_creates_a_topic_given_as_an_arn_by_its_name(stack: Stack, no_sts: None) -> None:
    queue = Arn.parse(stack.resources.queue_arn)
    assert queue is not None
    arn = f"arn:{queue.partition}:sns:{REGION}:{queue.account}:fresh-{uuid.uuid4().hex[:8]}"
    settings = stack.settings.model_copy(update={"events_topic": arn})

    assert bootstrap(settings).topic_arn == arn
    assert bootstrap(settings).topic_arn == arn  # twice: the same topic

    attributes = stack.client("sns").get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["TopicArn"] == arn


def test_bootstrap_refuses_an_arn_of_another_account_and_makes_no_topic(
    stack: Stack, no_sts: None
) -> None:
    queue = Arn.parse(stack.resources.queue_arn)
    assert queue is not None
    assert queue.account != "999999999999"
    name = f"elsewhere-{uuid.uuid4().hex[:8]}"
    settings = stack.settings.model_copy(
        update={"events_topic": f"arn:aws:sns:{REGION}:999999999999:{name}"}
    )

    with pytest.raises(InvalidTopic) as refused:
        bootstrap(settings)

    assert refused.value.code == "invalid_topic"
    assert "999999999999" in refused.value.message
    assert queue.account in refused.value.message
    topics = stack.client("sns").list_topics()["Topics"]
    assert not any(t["TopicArn"].endswith(f":{name}") for t in topics)


def test_a_topic_arn_of_another_service_stops_the_tail_with_its_own_code(
    ffapi_env: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FFAPI_EVENTS_TOPIC", f"arn:aws:sqs:{REGION}:123456789012:not-a-topic")

    assert cli.main(["events", "tail"]) == 2

    err = capsys.readouterr().err
    assert "ffapi: invalid_topic: FFAPI_EVENTS_TOPIC=" in err
    assert _tail_queues(ffapi_env) == []
