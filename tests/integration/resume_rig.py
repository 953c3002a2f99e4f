"""A streaming job lost part-way and resumed, on the real pipeline: the real ffmpeg, the S3
store (moto's server), the shipped in-memory job store holding the segment ledger.

Attempt 1 runs with a ledger keeper that writes every row at once; once the record holds
``kill_at`` rows it is stopped dead (its task cancelled: ffmpeg killed, nothing withdrawn,
as after a kill -9). Attempt 2 claims the job after the lease lapsed, gets the ledger with
the claim, and runs to the commit. Every ffmpeg run's argv and CPU seconds are noted per
attempt, for the tests and ``bench/resume.py``.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.attempt.ledger import SegmentLedger
from core.attempt.ledger_codec import decode_ledger
from core.attempt.ledger_keeper import SegmentLedgerKeeper
from core.attempt.ledger_sink import AttemptLedger
from core.attempt.limits import PipelineLimits
from core.attempt.pipeline import JobPipeline
from core.events.progress import EncodeProgress
from core.jobs.results import JobResult
from core.media.fallback import CpuOnly
from core.media.hardening import NO_LIMITS, ResourceLimits
from core.media.preflight import MediaLimits
from core.models import JobRequest, OutputLocation, S3ObjectRef
from core.ports import JobDir, ObjectStore
from core.ports.records import Claim
from core.presets import StreamingPreset
from infra.ffmpeg import FfmpegMedia
from infra.jobstore_segments import SEGMENTS
from infra.memory_jobs import MemoryJobStore
from infra.workspace import LocalDiskFiles

LEASE = 60.0


@dataclass
class Runs:
    """The ffmpeg runs of one attempt: argv, and the CPU seconds (user + system) of the
    process's children from the first run's start to the last one's end (runs at once, as a
    resume's are, would count each other's in a sum of their own deltas)."""

    argvs: list[tuple[str, ...]] = field(default_factory=list)
    began: float | None = None
    ended: float = 0.0

    @property
    def cpu_seconds(self) -> float:
        return self.ended - self.began if self.began is not None else 0.0


class NotedMedia(FfmpegMedia):
    """The real ffmpeg, noting each run's argv and CPU time (its children's rusage)."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = Runs()

    async def transcode(
        self, argv: Sequence[str], cwd: Path, timeout: float,
        progress: Callable[[EncodeProgress], None] | None = None,
        limits: ResourceLimits = NO_LIMITS,
    ) -> None:  # fmt: skip
        if self.runs.began is None:
            self.runs.began = _children_cpu()
        self.runs.argvs.append(tuple(argv))
        try:
            await super().transcode(argv, cwd, timeout, progress, limits)
        finally:
            self.runs.ended = max(self.runs.ended, _children_cpu())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Resumed:
    first: Runs  # attempt 1's ffmpeg runs, up to its loss
    second: Runs
    kept: SegmentLedger  # what the record held when attempt 2 claimed the job
    result: JobResult


def job_dir(root: Path) -> JobDir:
    (root / "input").mkdir(parents=True)
    (root / "out").mkdir()
    return JobDir(root=root, source=root / "input" / "source", out=root / "out")


def request_for(input_bucket: str, key: str, output_bucket: str) -> JobRequest:
    return JobRequest(
        input=S3ObjectRef(bucket=input_bucket, key=key),
        output=OutputLocation(bucket=output_bucket, prefix="outputs"),
    )


def pipeline(objects: ObjectStore, media: FfmpegMedia) -> JobPipeline:
    limits = PipelineLimits(300.0, MediaLimits(), NO_LIMITS)
    return JobPipeline(
        objects, media, LocalDiskFiles(), limits, lambda: datetime.now(UTC), CpuOnly()
    )


def ledger_for(
    jobs: MemoryJobStore, job_id: str, attempt: int, previous: SegmentLedger | None
) -> AttemptLedger:
    """Every row written as it lands (the worker's keeper waits 15 s between writes)."""

    def keeper(start: SegmentLedger) -> SegmentLedgerKeeper:
        return SegmentLedgerKeeper(jobs, job_id, attempt, start, clock=lambda: 0.0, interval=0)

    return AttemptLedger(previous, keeper)


def rows_recorded(jobs: MemoryJobStore, job_id: str) -> int:
    data = jobs.records.get(job_id, {}).get(SEGMENTS)
    return decode_ledger(data).rows if data else 0


async def clean(
    objects: ObjectStore, request: JobRequest, preset: StreamingPreset, job_id: str, root: Path
) -> tuple[JobResult, Runs]:
    media = NotedMedia()
    result = await pipeline(objects, media).run(job_id, request, preset, job_dir(root), 1)
    return result, media.runs


async def lost_then_resumed(
    objects: ObjectStore, request: JobRequest, preset: StreamingPreset, job_id: str, root: Path,
    kill_at: int,
) -> Resumed:  # fmt: skip
    """Attempt 1 stopped dead once the record holds ``kill_at`` rows; attempt 2 finishes."""
    clock = Clock()
    jobs = MemoryJobStore(clock)
    first = await _lost(objects, jobs, request, preset, job_id, root / "a1", kill_at)
    again = await _reclaim(jobs, clock, job_id, request)
    return await _resumed(objects, jobs, request, preset, job_id, root / "a2", first, again)


async def lost_twice_then_resumed(
    objects: ObjectStore, request: JobRequest, preset: StreamingPreset, job_id: str, root: Path,
    kill_at: int,
) -> tuple[SegmentLedger, Resumed]:  # fmt: skip
    """Attempt 1 lost at ``kill_at`` rows; attempt 2 (resumed) lost once the record holds
    more rows than it kept; attempt 3 finishes. The ledger attempt 2 claimed, and attempt
    3's run."""
    clock = Clock()
    jobs = MemoryJobStore(clock)
    await _lost(objects, jobs, request, preset, job_id, root / "a1", kill_at)
    claim = await _reclaim(jobs, clock, job_id, request)
    assert claim.segments is not None
    further = claim.segments.rows + 1
    second = await _lost(objects, jobs, request, preset, job_id, root / "a2", further, claim)
    again = await _reclaim(jobs, clock, job_id, request)
    resumed = await _resumed(objects, jobs, request, preset, job_id, root / "a3", second, again)
    return claim.segments, resumed


async def _lost(
    objects: ObjectStore, jobs: MemoryJobStore, request: JobRequest, preset: StreamingPreset,
    job_id: str, root: Path, kill_at: int, claim: Claim | None = None,
) -> Runs:  # fmt: skip
    """An attempt (of ``claim``, else a first claim) stopped dead once the record holds
    ``kill_at`` rows: its ffmpeg runs."""
    claim = claim or await jobs.claim(job_id, request, LEASE, "m")
    media = NotedMedia()
    work = asyncio.create_task(
        pipeline(objects, media).run(job_id, request, preset, job_dir(root), claim.attempt,
                                     ledger=ledger_for(jobs, job_id, claim.attempt,
                                                       claim.segments))
    )  # fmt: skip
    while rows_recorded(jobs, job_id) < kill_at:
        if work.done():
            raise AssertionError(f"the attempt ended before {kill_at} rows: {work.result()}")
        await asyncio.sleep(0.02)
    work.cancel()  # as a kill -9 leaves it: nothing withdrawn, the record as it was
    await asyncio.gather(work, return_exceptions=True)
    return media.runs


async def _reclaim(jobs: MemoryJobStore, clock: Clock, job_id: str, request: JobRequest) -> Claim:
    clock.now += 2 * LEASE  # the dead worker's lease lapses
    return await jobs.claim(job_id, request, LEASE, "m")


async def _resumed(
    objects: ObjectStore, jobs: MemoryJobStore, request: JobRequest, preset: StreamingPreset,
    job_id: str, root: Path, first: Runs, again: Claim,
) -> Resumed:  # fmt: skip
    """The attempt of ``again`` (a claim after a loss, with its ledger) run to its end."""
    assert again.segments is not None
    second = NotedMedia()
    result = await pipeline(objects, second).run(
        job_id, request, preset, job_dir(root), again.attempt,
        ledger=ledger_for(jobs, job_id, again.attempt, again.segments),
    )  # fmt: skip
    return Resumed(first, second.runs, again.segments, result)


def trim_start(argv: Sequence[str]) -> int | None:
    """The first frame a range encode keeps (``trim=start_pts=A``), None for a whole one."""
    for arg in argv:
        if "trim=start_pts=" in arg:
            return int(arg.split("trim=start_pts=", 1)[1].split(":")[0].split(",")[0])
    return None


async def download_package(objects: ObjectStore, result: JobResult, dest: Path) -> Path:
    """The committed package's files (every key under the job's output prefix but the
    JSON), into ``dest``: the directory holding master.m3u8 and manifest.mpd."""
    out = result.output
    prefix = f"{out.prefix.strip('/')}/{result.job_id}/"
    for listed in await objects.list_objects(out.bucket, prefix):
        name = listed.key.removeprefix(prefix)
        if name.endswith(".json"):
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        await objects.download(S3ObjectRef(bucket=out.bucket, key=listed.key), dest / name)
    return dest / "cmaf"


def resumed_package(root: Path, seconds: int, kill_at: int) -> Path:
    """A web-hls package of a generated 640x360 clip, lost after ``kill_at`` rows and
    resumed, made on an embedded moto stack and downloaded under ``root``."""
    from infra.aws import open_clients
    from infra.bootstrap import bootstrap
    from infra.emulator import embedded_emulator
    from infra.ffmpeg import make_sample_clip
    from infra.settings import Settings
    from infra.storage import S3ObjectStore
    from tests.integration.local_job import WEB

    settings = Settings(wait_time_seconds=1, preset="web-hls")

    async def run() -> Path:
        clip = await make_sample_clip(root / "clip.mp4", seconds, 640, 360)
        request = request_for(settings.input_bucket, "resume/clip.mp4", settings.output_bucket)
        async with open_clients(settings) as clients:
            await clients.s3.upload_file(str(clip), settings.input_bucket, "resume/clip.mp4")
            store = S3ObjectStore(clients.s3)
            job = "j-" + "9" * 24
            resumed = await lost_then_resumed(store, request, WEB, job, root / "job", kill_at)
            assert resumed.kept.rows >= kill_at
            assert any(n.startswith("resumed from segment") for n in resumed.result.notes)
            return await download_package(store, resumed.result, root / "package")

    with embedded_emulator(settings.region):
        bootstrap(settings)
        return asyncio.run(run())
