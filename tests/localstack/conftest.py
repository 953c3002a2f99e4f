"""LocalStack on the host (S3, SQS, SNS, STS) with moto's server for DynamoDB, as
``./dev localstack start`` runs them: the worker process against the real thing.

The session uses LocalStack where it already answers (``FFAPI_LOCALSTACK_URL``, default
http://127.0.0.1:4566, and ``FFAPI_LOCALSTACK_DYNAMODB_URL``), or starts it with
``./dev localstack start`` within ``FFAPI_LOCALSTACK_BUDGET`` seconds (default 240: the first
run installs LocalStack into its own virtualenv) and stops it at the end. When it cannot, the
tests are skipped with the reason, printed in the run's summary; ``FFAPI_LOCALSTACK_TESTS``
set to ``required`` makes that a failure and ``off`` skips the suite without trying;
``./dev test`` installs LocalStack first and, where it cannot, says why in
``FFAPI_LOCALSTACK_UNAVAILABLE``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.localstack.services import Endpoints, answers, healthy

REPO = Path(__file__).resolve().parents[2]
DEFAULT_URL = "http://127.0.0.1:4566"
DEFAULT_DYNAMODB_URL = "http://127.0.0.1:4567"

SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARY:
        terminalreporter.section("localstack")
        for line in SUMMARY:
            terminalreporter.write_line(line)


@dataclass(frozen=True)
class Started:
    endpoints: Endpoints
    by_us: bool  # started by this session: stopped at its end
    seconds: float


def _configured() -> Endpoints:
    return Endpoints(
        url=os.environ.get("FFAPI_LOCALSTACK_URL", DEFAULT_URL),
        dynamodb_url=os.environ.get("FFAPI_LOCALSTACK_DYNAMODB_URL", DEFAULT_DYNAMODB_URL),
    )


def _dev_env(endpoints: Endpoints) -> dict[str, str]:
    """``./dev localstack`` on the ports the endpoints name, with moto's server from the
    virtualenv this runs in (where it is one)."""
    env = {
        **os.environ,
        "FFAPI_LOCALSTACK_PORT": endpoints.url.rsplit(":", 1)[1],
        "FFAPI_LOCALSTACK_DYNAMODB_PORT": endpoints.dynamodb_url.rsplit(":", 1)[1],
    }
    if sys.prefix != sys.base_prefix:
        env["FFAPI_VENV"] = sys.prefix
    return env


def _dev(action: str, endpoints: Endpoints, budget: float) -> str | None:
    """``./dev localstack ACTION``; None when it succeeded, else why not. Its own process
    group: on timeout the pip or LocalStack it began goes with it."""
    proc = subprocess.Popen(
        [str(REPO / "dev"), "localstack", action],
        cwd=REPO,
        env=_dev_env(endpoints),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"./dev localstack {action} took over {budget:g}s (FFAPI_LOCALSTACK_BUDGET)"
    if proc.returncode != 0:
        tail = " | ".join(out.strip().splitlines()[-3:])
        return f"./dev localstack {action} exited {proc.returncode}: {tail}"
    return None


def _start() -> Started | str:
    unavailable = os.environ.get("FFAPI_LOCALSTACK_UNAVAILABLE")  # ./dev test's install
    if unavailable:
        return unavailable
    endpoints = _configured()
    began = time.monotonic()
    if healthy(endpoints.url) and answers(endpoints.dynamodb_url):
        return Started(endpoints, by_us=False, seconds=0.0)
    budget = float(os.environ.get("FFAPI_LOCALSTACK_BUDGET", "240"))
    why = _dev("start", endpoints, budget)
    if why is not None:
        _dev("stop", endpoints, 60)  # whatever it left running
        return why
    return Started(endpoints, by_us=True, seconds=time.monotonic() - began)


@pytest.fixture(scope="session")
def localstack() -> Iterator[Endpoints]:
    mode = os.environ.get("FFAPI_LOCALSTACK_TESTS", "")
    if mode == "off":
        reason = "LocalStack tests are off (FFAPI_LOCALSTACK_TESTS=off)"
        SUMMARY.append(f"skipped: {reason}")
        pytest.skip(reason)
    started = _start()
    if isinstance(started, str):
        reason = f"LocalStack could not be started: {started}"
        SUMMARY.append(f"skipped: {reason}")
        if mode == "required":
            pytest.fail(reason)
        pytest.skip(reason)
    how = f"started in {started.seconds:.0f}s" if started.by_us else "already running"
    SUMMARY.append(
        f"LocalStack at {started.endpoints.url} ({how}), "
        f"DynamoDB (moto) at {started.endpoints.dynamodb_url}"
    )
    try:
        yield started.endpoints
    finally:
        if started.by_us:
            _dev("stop", started.endpoints, 60)
