"""``ffapi.job.playable`` and a failed job's ``package``: built, checked against the committed
schemas, and said by the attempt's reporter once, before the completion, never recorded on the
job nor dropped for later progress."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from core.errors import AttemptsExhausted, QcFailed
from core.events.cloudevent import CloudEvent, EventType
from core.events.contract import job_event
from core.events.playable import PlayableNotice
from core.events.progress import ProgressUpdate
from core.events.reporting import ProgressReporter
from core.jobs.job_record import RecordedError
from core.models import OutputLocation
from tests.event_contract import check_event

from .fakes import NOW, FakeJobs

OUT = OutputLocation(bucket="ffapi-output", prefix="outputs")
PLAYBACK = {"hls": "outputs/j-1/cmaf/master.m3u8", "dash": "outputs/j-1/cmaf/manifest.mpd"}
CONTEXT = {
    "input": {"bucket": "ffapi-input", "key": "incoming/a.mp4"},
    "preset": "web-hls",
    "output": OUT.model_dump(),
    "correlation_id": None,
    "attempt": 2,
}


def test_the_playable_event_validates_against_its_schema() -> None:
    data = {"preset": "web-hls", "correlation_id": "c-1", "attempt": 2, "output": OUT.model_dump(),
            "playback": PLAYBACK, "seconds": 3.25}  # fmt: skip
    event = check_event(job_event(EventType.PLAYABLE, "j-1", NOW, data, 2).to_json())
    assert event["type"] == "ffapi.job.playable"
    assert event["data"]["playback"] == PLAYBACK
    assert event["data"]["seconds"] == 3.25
    again = job_event(EventType.PLAYABLE, "j-1", NOW, data, 2)
    assert again.id == job_event(EventType.PLAYABLE, "j-1", NOW, data, 2).id  # derived
    assert again.id != job_event(EventType.PLAYABLE, "j-1", NOW, data, 3).id  # per attempt


def failed(error: Mapping[str, object]) -> dict[str, Any]:
    event = job_event(EventType.FAILED, "j-1", NOW, {**CONTEXT, "error": error}, 2)
    data: dict[str, Any] = check_event(event.to_json())["data"]
    return data


def test_a_job_failed_after_playable_says_its_package_is_partial() -> None:
    qc = QcFailed("bad", details={"package": "partial"})
    assert failed(RecordedError.of(qc).event_error())["package"] == "partial"
    exhausted = AttemptsExhausted.after(qc, 3)  # said on the last delivery, from its cause
    assert failed(RecordedError.of(exhausted).event_error())["package"] == "partial"
    assert failed(RecordedError.of(QcFailed("bad")).event_error())["package"] is None


def test_the_reporter_says_playable_once_and_flushes_it_before_the_end() -> None:
    published: list[CloudEvent] = []
    jobs = FakeJobs()

    async def announce(event: CloudEvent) -> None:
        await asyncio.sleep(0.01)
        published.append(event)

    async def go() -> None:
        reporter = ProgressReporter("j-1", 1, {"preset": "web-hls", "correlation_id": None},
                                    jobs, announce, lambda: NOW)  # fmt: skip
        notice = PlayableNotice(output=OUT, playback=PLAYBACK, seconds=1.5)
        reporter(notice)
        reporter(ProgressUpdate(phase="encode", percent=50.0))
        reporter(notice)  # once an attempt
        await reporter.flush()

    asyncio.run(go())
    types = [e.type for e in published]
    assert types.count(EventType.PLAYABLE) == 1
    [playable] = [e for e in published if e.type is EventType.PLAYABLE]
    assert playable.data["seconds"] == 1.5
    assert playable.data["attempt"] == 1
    check_event(playable.to_json())
