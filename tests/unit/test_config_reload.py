"""The reloader on a scripted document and a fake clock: a changed valid document replaces the
one in force, an invalid or missing one is refused (counted, the old stays), an unchanged one
is not parsed again; and the dispatcher reads the configuration in force per message while a
job in flight keeps the preset it started with."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest

from core.attempt.ledger_sink import AttemptLedger
from core.errors import StorageUnavailable
from core.events.progress import ProgressUpdate
from core.jobs.config import ConfigError, WorkerConfig, parse_config
from core.jobs.config_reload import ConfigInForce, ConfigReloader, ReloadOutcome, load_config
from core.jobs.results import JobResult
from core.models import JobRequest
from core.ports import ConfigText, JobDir
from core.presets import Mp4Preset, OutputPreset

from .dispatch_harness import Harness, s3_put
from .fakes import FakePipeline
from .test_config import BASE

TALL = '[presets.mp4-720p]\nkind = "mp4"\nmax_height = 720\n'
SHORT = '[presets.mp4-720p]\nkind = "mp4"\nmax_height = 360\n'
BROKEN = '[presets.mp4-720p]\nkind = "mp4"\nmax_height = 1\n'


class ScriptedDocument:
    """The document's versions in turn; answers as a conditional GET does."""

    def __init__(self, text: str, version: str) -> None:
        self.found: ConfigText | Exception = ConfigText(text, version)
        self.bodies_sent = 0

    def change(self, text: str, version: str) -> None:
        self.found = ConfigText(text, version)

    async def read(self, unless: str | None = None) -> ConfigText | None:
        if isinstance(self.found, Exception):
            raise self.found
        if self.found.version == unless:
            return None
        self.bodies_sent += 1
        return self.found


class Counted:
    def __init__(self) -> None:
        self.outcomes: list[ReloadOutcome] = []
        self.replaced = asyncio.Event()

    def reloaded(self, outcome: ReloadOutcome) -> None:
        self.outcomes.append(outcome)
        if outcome is ReloadOutcome.REPLACED:
            self.replaced.set()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def height(config: WorkerConfig) -> int | None:
    preset = config.catalog.get("mp4-720p")
    assert isinstance(preset, Mp4Preset)
    return preset.max_height


def started(doc: ScriptedDocument, clock: Callable[[], float] | None = None) -> ConfigReloader:
    config = asyncio.run(load_config(doc, BASE))
    return ConfigReloader(BASE, ConfigInForce(config), clock or Clock(), Counted())


def observed(reloader: ConfigReloader) -> Counted:
    observer = reloader._observer
    assert isinstance(observer, Counted)
    return observer


def test_a_changed_document_replaces_the_configuration_in_force() -> None:
    doc = ScriptedDocument(TALL, "v1")
    reloader = started(doc)
    assert asyncio.run(reloader.check(doc)) is ReloadOutcome.UNCHANGED
    assert doc.bodies_sent == 1  # the start's read only: unchanged costs no body, no parse
    doc.change(SHORT, "v2")
    assert asyncio.run(reloader.check(doc)) is ReloadOutcome.REPLACED
    assert height(reloader.in_force.current) == 360
    assert reloader.in_force.current.version == "v2"


def test_an_invalid_document_is_refused_once_and_the_old_stays_in_force() -> None:
    doc = ScriptedDocument(TALL, "v1")
    reloader = started(doc)
    doc.change(BROKEN, "v2")
    assert asyncio.run(reloader.check(doc)) is ReloadOutcome.REFUSED
    assert asyncio.run(reloader.check(doc)) is ReloadOutcome.UNCHANGED  # not judged again
    assert height(reloader.in_force.current) == 720
    assert reloader.in_force.current.version == "v1"
    doc.change(SHORT, "v3")  # fixed: in force
    assert asyncio.run(reloader.check(doc)) is ReloadOutcome.REPLACED
    assert observed(reloader).outcomes == [
        ReloadOutcome.REFUSED,
        ReloadOutcome.UNCHANGED,
        ReloadOutcome.REPLACED,
    ]


def test_a_missing_document_is_refused_and_an_unanswering_store_tried_again() -> None:
    doc = ScriptedDocument(TALL, "v1")
    reloader = started(doc)
    doc.found = ConfigError("s3://cfg/ffapi-config.toml cannot be read (NoSuchKey)")
    assert asyncio.run(reloader.check(doc)) is ReloadOutcome.REFUSED
    assert asyncio.run(reloader.check(doc)) is ReloadOutcome.UNCHANGED  # said once
    doc.found = StorageUnavailable("s3:GetObject: timed out")
    assert asyncio.run(reloader.check(doc)) is ReloadOutcome.UNREADABLE
    assert height(reloader.in_force.current) == 720


def test_a_missing_or_invalid_document_at_start_stops_the_worker() -> None:
    with pytest.raises(ConfigError, match=r"presets\.mp4-720p\.mp4\.max_height"):
        asyncio.run(load_config(ScriptedDocument(BROKEN, "v1"), BASE))
    missing = ScriptedDocument(TALL, "v1")
    missing.found = ConfigError("ffapi-config.toml cannot be read")
    with pytest.raises(ConfigError):
        asyncio.run(load_config(missing, BASE))


def test_lambda_checks_at_most_every_n_seconds() -> None:
    clock, doc = Clock(), ScriptedDocument(TALL, "v1")
    reloader = started(doc, clock)
    doc.change(SHORT, "v2")
    clock.now = 29.0
    assert asyncio.run(reloader.check_due(doc, every=30)) is ReloadOutcome.UNCHANGED
    assert doc.bodies_sent == 1  # not even asked
    clock.now = 30.0
    assert asyncio.run(reloader.check_due(doc, every=30)) is ReloadOutcome.REPLACED


def test_a_wake_checks_before_the_timer_would() -> None:
    doc = ScriptedDocument(TALL, "v1")
    reloader = started(doc)

    async def scenario() -> None:
        stop, wake = asyncio.Event(), asyncio.Event()
        running = asyncio.create_task(reloader.run(doc, stop, 3600, wake))
        doc.change(SHORT, "v2")
        wake.set()  # SIGHUP
        async with asyncio.timeout(10):
            await observed(reloader).replaced.wait()
        stop.set()
        await running

    asyncio.run(scenario())
    assert height(reloader.in_force.current) == 360


class ReloadingPipeline(FakePipeline):
    """Puts a new configuration in force while its job runs, as a reload would."""

    def __init__(self, in_force: ConfigInForce, new: WorkerConfig) -> None:
        super().__init__()
        self.in_force, self.new = in_force, new
        self.presets: list[OutputPreset] = []

    async def run(
        self, job_id: str, request: JobRequest, preset: OutputPreset, jobdir: JobDir,
        attempt: int, report: Callable[[ProgressUpdate], None] | None = None,
        ledger: AttemptLedger | None = None,
    ) -> JobResult:  # fmt: skip
        self.presets.append(preset)
        self.in_force.put(self.new)
        return await super().run(job_id, request, preset, jobdir, attempt)


def test_a_job_keeps_its_preset_and_the_next_one_takes_the_new() -> None:
    harness = Harness(FakePipeline())
    old = WorkerConfig(parse_config(TALL, BASE).catalog, harness.settings.intake, "v1")
    new = WorkerConfig(parse_config(SHORT, BASE).catalog, harness.settings.intake, "v2")
    in_force = ConfigInForce(old)
    harness.settings = dataclasses.replace(harness.settings, config=in_force)
    pipeline = ReloadingPipeline(in_force, new)
    harness.use(pipeline)
    first = harness.handle(s3_put())
    assert first.jobs[0].status == "COMPLETED"
    assert in_force.current is new  # replaced while the first job ran
    second = harness.handle(s3_put(), message_id="msg-2")
    heights = [p.max_height for p in pipeline.presets if isinstance(p, Mp4Preset)]
    assert heights == [720, 360]
    # A new preset spec is a new job (the preset's hash is part of the job id).
    assert second.jobs[0].job_id != first.jobs[0].job_id
