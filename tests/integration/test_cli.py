"""The `ffapi` commands against the emulator, as an operator runs them: submit, status,
jobs, events tail and replay, and how failures are reported (bootstrap:
test_cli_bootstrap.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pydantic import ValidationError

from core.errors import InvalidMedia, StorageUnavailable
from handlers import cli
from handlers.cli_errors import explain
from infra.settings import Settings
from infra.tools import MissingBinary

from .conftest import Stack, drain_events, run_worker, subscribe_queue

pytestmark = pytest.mark.integration


def test_status_prints_the_job_record(
    ffapi_env: Stack, short_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    stack.client("s3").upload_file(
        str(short_clip), stack.settings.input_bucket, f"{stack.settings.watch_prefix}s.mp4"
    )
    [completed] = run_worker(stack).of_type("completed")
    capsys.readouterr()

    assert cli.main(["status", completed["subject"], "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "COMPLETED"
    assert record["attempts"] == 1
    assert record["input_key"] == f"{stack.settings.watch_prefix}s.mp4"
    assert record["result"]["outputs"] == completed["data"]["outputs"]

    assert cli.main(["status", completed["subject"]]) == 0
    shown = capsys.readouterr().out
    assert completed["subject"] in shown
    assert "COMPLETED" in shown
    assert f"s3://{stack.settings.input_bucket}/{stack.settings.watch_prefix}s.mp4" in shown
    folder = f"{stack.settings.output_prefix}/{completed['subject']}/"
    assert f"outputs in s3://{stack.settings.output_bucket}/{folder}" in shown
    for output in completed["data"]["outputs"]:
        assert output["key"].removeprefix(folder) in shown

    assert cli.main(["status", "j-000000000000000000000000"]) == 1
    assert "no job j-000000000000000000000000" in capsys.readouterr().err


def _job_id(printed: str) -> str:
    found = re.search(r"^job\s+(j-[0-9a-f]{24})\s", printed, re.M)
    assert found, printed
    return found[1]


def test_submit_wait_follows_the_job_it_names_to_its_outputs(
    ffapi_env: Stack, short_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    codes: list[int] = []
    submit = threading.Thread(
        target=lambda: codes.append(cli.main(["submit", str(short_clip), "--wait"]))
    )
    submit.start()
    scenario = run_worker(stack)
    submit.join(timeout=60)

    assert codes == [0]
    printed = capsys.readouterr().out
    job_id = _job_id(printed)
    # The id printed before the worker saw the request is the id of every event of the job.
    assert {e["subject"] for e in scenario.events + scenario.progress} == {job_id}
    assert [e["type"] for e in scenario.events] == [
        "ffapi.job.received",
        "ffapi.job.started",
        "ffapi.job.completed",
    ]
    [completed] = scenario.of_type("completed")
    correlation = re.search(r"correlation (\S+)", printed)
    assert correlation
    assert completed["data"]["correlation_id"] == correlation[1]
    # Uploaded outside the watched prefix: S3's notification made no second job.
    assert completed["data"]["input"]["key"].startswith("submitted/")
    assert stack.queue_depth(stack.resources.queue_url) == 0
    folder = f"{stack.settings.output_prefix}/{job_id}/"
    assert f"outputs in s3://{stack.settings.output_bucket}/{folder}" in printed
    for output in completed["data"]["outputs"]:  # the outputs table: key, role, size
        key = output["key"].removeprefix(folder)
        assert re.search(rf"\b{re.escape(key)}\W+{output['role']}\W+[\d.]+ [KM]?B", printed)

    assert cli.main(["jobs", "--status", "COMPLETED"]) == 0
    listed = capsys.readouterr().out
    assert job_id in listed
    assert "submitted/" in listed
    assert cli.main(["jobs", "--status", "failed"]) == 0
    assert job_id not in capsys.readouterr().out


def test_submit_of_an_s3_object_with_a_preset_prints_the_workers_job_id(
    ffapi_env: Stack, short_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    key = "elsewhere/clip [1].mp4"  # not watched; a name that is not rich markup either
    stack.client("s3").upload_file(str(short_clip), stack.settings.input_bucket, key)
    url = f"s3://{stack.settings.input_bucket}/{key}"

    assert cli.main(["submit", url, "--preset", "mp4-480p"]) == 0
    job_id = _job_id(capsys.readouterr().out)
    [completed] = run_worker(stack).of_type("completed")

    assert completed["subject"] == job_id
    assert completed["data"]["preset"] == "mp4-480p"
    assert completed["data"]["input"]["key"] == key

    assert cli.main(["submit", "s3://No_Such/key"]) == 2
    assert "is not an s3://bucket/key URL" in capsys.readouterr().err
    assert cli.main(["submit", url, "--preset", "no-such"]) == 2
    refused = capsys.readouterr().err
    assert "ffapi: --preset 'no-such' is not a preset" in refused
    assert "hint: one of: web-hls, hls-ts, " in refused


def test_submit_wait_exits_1_with_the_error_code_of_a_failed_job(
    ffapi_env: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 50)
    codes: list[int] = []
    submit = threading.Thread(
        target=lambda: codes.append(cli.main(["submit", str(notes), "--wait"]))
    )
    submit.start()
    run_worker(ffapi_env)
    submit.join(timeout=60)

    assert codes == [1]
    captured = capsys.readouterr()
    job_id = _job_id(captured.out)
    assert f"ffapi: job {job_id} failed: invalid_media: " in captured.err
    assert "Traceback" not in captured.err


def _tail_subscriptions(stack: Stack) -> list[str]:
    subs = stack.client("sns").list_subscriptions_by_topic(TopicArn=stack.resources.topic_arn)
    return [s["Endpoint"] for s in subs["Subscriptions"] if ":ffapi-tail-" in s["Endpoint"]]


def _tail_queues(stack: Stack) -> list[str]:
    urls = stack.client("sqs").list_queues(QueueNamePrefix="ffapi-tail-").get("QueueUrls", [])
    return [str(url) for url in urls]


def _wait_until(condition: Callable[[], object], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_events_tail_prints_each_event_of_a_job_and_cleans_up(
    ffapi_env: Stack, short_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    argv = ["events", "tail", "--type", "received", "--type", "started",
            "--type", "ffapi.job.completed", "--count", "3"]  # fmt: skip
    codes: list[int] = []
    tail = threading.Thread(target=lambda: codes.append(cli.main(argv)))
    tail.start()
    _wait_until(lambda: _tail_subscriptions(stack))
    stack.client("s3").upload_file(
        str(short_clip), stack.settings.input_bucket, f"{stack.settings.watch_prefix}t.mp4"
    )
    [completed] = run_worker(stack).of_type("completed")
    tail.join(timeout=60)

    assert codes == [0]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["received", "started", "completed"]
    assert {line.split()[2] for line in lines} == {completed["subject"]}
    assert "COMPLETED" in lines[-1]
    assert _tail_subscriptions(stack) == []
    assert _tail_queues(stack) == []


def test_events_tail_cleans_up_on_ctrl_c(ffapi_env: Stack) -> None:
    stack = ffapi_env
    ffapi = str(Path(sys.executable).parent / "ffapi")
    # faulthandler: a tail that outlives its Ctrl-C is made to print every thread's stack
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    # A terminal's Ctrl-C: SIGINT at its default in the child whatever this process inherited
    # (a shell's background job starts with it ignored, and exec passes that on: the tail
    # would then never see the signal, as happened when CI was started in the background).
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [ffapi, "events", "tail"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    finally:
        signal.signal(signal.SIGINT, inherited)
    try:
        _wait_until(lambda: _tail_subscriptions(stack) and _tail_queues(stack))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            _, err = proc.communicate()
            pytest.fail(f"ffapi events tail still running 60 s after Ctrl-C:\n{err[-8000:]}")
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert _tail_subscriptions(stack) == []
    assert _tail_queues(stack) == []


def test_events_replay_resends_the_final_event_under_its_id(
    ffapi_env: Stack, short_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    stack.client("s3").upload_file(
        str(short_clip), stack.settings.input_bucket, f"{stack.settings.watch_prefix}r.mp4"
    )
    [completed] = run_worker(stack).of_type("completed")
    consumer = subscribe_queue(stack)
    capsys.readouterr()

    assert cli.main(["events", "replay", completed["subject"]]) == 0

    assert f"re-sent    ffapi.job.completed  id {completed['id']}" in capsys.readouterr().out
    [again] = drain_events(stack, consumer)
    assert (again["id"], again["type"]) == (completed["id"], "ffapi.job.completed")
    assert again["data"] == completed["data"]

    assert cli.main(["events", "replay", "j-000000000000000000000000"]) == 1
    assert "no job j-000000000000000000000000" in capsys.readouterr().err
    stack.client("dynamodb").put_item(
        TableName=stack.settings.jobs_table,
        Item={"job_id": {"S": "j-running"}, "status": {"S": "RUNNING"}},
    )
    assert cli.main(["events", "replay", "j-running"]) == 1
    assert "job j-running is RUNNING" in capsys.readouterr().err
    assert drain_events(stack, consumer) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_endpoint_is_one_line_and_a_hint_without_traceback(
    ffapi_env: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")

    assert cli.main(["status", "j-000000000000000000000000"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2, err
    assert err[0].startswith("ffapi: cannot reach http://127.0.0.1:")
    assert err[1] == "  hint: set AWS_ENDPOINT_URL or start `ffapi local`"

    assert cli.main(["--debug", "jobs"]) == 1
    debug = capsys.readouterr().err
    assert debug.startswith("Traceback (most recent call last):")
    assert "ConnectionRefusedError" in debug
    assert "hint: set AWS_ENDPOINT_URL" in debug


def _wrapped(cause: Exception) -> StorageUnavailable:
    exc = StorageUnavailable(f"dynamodb:GetItem: {cause}")
    exc.__cause__ = cause  # as infra.aws.aws_errors raises it
    return exc


def test_sdk_failures_and_bad_settings_are_explained() -> None:
    refused = explain(_wrapped(EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")))
    assert refused.message == "cannot reach http://127.0.0.1:1/ (EndpointConnectionError)"
    assert refused.hint == "set AWS_ENDPOINT_URL or start `ffapi local`"
    assert refused.exit_code == 1
    missing = ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "GetItem")
    assert "ffapi bootstrap" in (explain(_wrapped(missing)).hint or "")
    with pytest.raises(ValidationError) as bad:
        Settings(worker_concurrency="many")
    problem = explain(bad.value)
    assert problem.message.startswith("FFAPI_WORKER_CONCURRENCY: ")
    assert problem.exit_code == 2
    assert explain(InvalidMedia("no streams")).message == "invalid_media: no streams"
    assert explain(MissingBinary("ffmpeg not found")).exit_code == 3


COMMANDS: tuple[list[str], ...] = (
    ["demo"],
    ["local"],
    ["bootstrap"],
    ["worker"],
    ["plan"],
    ["doctor"],
    ["submit"],
    ["status"],
    ["jobs"],
    ["events", "tail"],
    ["events", "replay"],
    ["dlq", "list"],
    ["dlq", "redrive"],
    [],
)
PRESETS = ("web-hls", "hls-ts", "web-av1", "audio-only", "mp4-720p", "mp4-480p")


def _help(command: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main([*command, "--help"]) == 0
    return capsys.readouterr().out


def test_help_shows_flags_as_flags_and_names_the_presets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per option: no name split by wrapping
    for command in COMMANDS:
        text = _help(command, capsys)
        assert "--help" in text
        assert "<bool>" not in text, command
        if "--preset" in text:
            line = next(line for line in text.splitlines() if "--preset" in line)
            assert all(name in line for name in PRESETS), line
    assert re.search(r"--json\s+Print the plan as JSON", _help(["plan"], capsys))
    assert re.search(r"-v\s+Show the worker's JSON logs", _help(["demo"], capsys))
    local = _help(["local"], capsys)
    assert "[default: FFAPI_WORKER_CONCURRENCY, else 2]" in local


def test_an_unknown_preset_is_refused_by_its_flag_before_anything_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"never read")
    for command in (["demo"], ["plan", str(clip)], ["submit", str(clip)]):
        assert cli.main([*command, "--preset", "bogus"]) == 2
        said = capsys.readouterr()
        assert "emulator" not in said.out  # the demo refused before starting its emulator
        assert "ffapi: --preset 'bogus' is not a preset" in said.err
        assert f"hint: one of: {', '.join(PRESETS)}" in said.err
        assert "FFAPI_PRESET" not in said.err
