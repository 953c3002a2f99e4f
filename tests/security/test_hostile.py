"""Hostile media and hostile messages against real workers (issue 7).

Each case must end as its table says (media_cases.py, message_cases.py): one job.failed
with the expected code and ``retryable: false`` (or one job.completed where injected text
must stay inert), delivered once and never retried, no canary hit, the secret nowhere, no
ffprobe or ffmpeg for a request refused at intake and no ffmpeg for media refused at its
probe, and every child under the memory bound. Then the run as a whole: no connection to the
canary at all, the secret in no object, event, log line or job record, the queues empty, the
workers under their bound.
"""

from __future__ import annotations

import pytest

from .arena import MAX_WORKER_RSS_KIB, MIB
from .conftest import CASES, SecurityRun

pytestmark = pytest.mark.security


@pytest.mark.parametrize("name", [case.name for case in CASES])
def test_case(name: str, security_run: SecurityRun) -> None:
    problems = security_run.verdicts[name].problems()
    assert not problems, "; ".join(problems)


def test_case_names_are_unique() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


def test_nothing_reached_the_canary(security_run: SecurityRun) -> None:
    assert security_run.hits == []
    assert security_run.connections == []


def test_the_secret_is_nowhere(security_run: SecurityRun) -> None:
    assert security_run.leaks == []


def test_every_tool_run_belongs_to_a_case(security_run: SecurityRun) -> None:
    assert security_run.stray_runs == []


def test_every_message_is_gone_and_none_dead(security_run: SecurityRun) -> None:
    assert security_run.queue_left == 0
    assert security_run.dead_letters == 0


def test_workers_stay_under_the_memory_bound(security_run: SecurityRun) -> None:
    over = {
        n: kib // MIB for n, kib in security_run.worker_peaks.items() if kib > MAX_WORKER_RSS_KIB
    }
    assert security_run.worker_peaks, "the workers' memory was not measured"
    assert over == {}
