"""Local resources under failure: no download without disk room, no job directory outliving a
killed worker, no ffmpeg hanging past its stall time."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from core.errors import InsufficientDisk, TranscodeStalled
from infra.ffmpeg import FfmpegMedia
from infra.storage import S3ObjectStore
from infra.workspace import LocalWorkspace

from .conftest import Stack, run_worker, use_tools_for_test

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
JOB = "j-" + "0123456789abcdef01234567"


# -- free disk, checked before anything is made -------------------------------------------


def test_a_job_dir_is_refused_when_the_disk_is_short(tmp_path: Path) -> None:
    workspace = LocalWorkspace(tmp_path, headroom_factor=1e12)  # no disk has 1e15 bytes free

    async def open_one(reserve: int | None) -> None:
        async with workspace.job_dir(JOB, reserve_bytes=reserve) as jobdir:
            assert jobdir.out.is_dir()

    with pytest.raises(InsufficientDisk) as info:
        asyncio.run(open_one(1000))
    assert (info.value.code, info.value.retryable) == ("insufficient_disk", True)
    assert info.value.details is not None
    assert info.value.details["needed_bytes"] == 10**15
    assert list(tmp_path.iterdir()) == []  # refused before anything was created
    asyncio.run(open_one(None))  # an unknown size is not refused
    asyncio.run(open_one(0))


def first_retry(stack: Stack) -> tuple[list[dict[str, Any]], Any]:
    """A check for run_worker's ``until`` that keeps the job record as it is at the first
    RETRYING (the next delivery comes back within a second and may already end the job)."""
    seen: list[dict[str, Any]] = []

    def retrying() -> bool:
        items = stack.client("dynamodb").scan(TableName=stack.settings.jobs_table)["Items"]
        seen.extend(item for item in items if item["status"]["S"] == "RETRYING")
        return bool(seen)

    return seen, retrying


def assert_retried_as(record: dict[str, Any], code: str) -> None:
    error = json.loads(record["error"]["S"])
    assert (error["code"], error["retryable"]) == (code, True)
    assert record["retryable"]["BOOL"] is True


def test_a_worker_short_of_disk_hands_the_job_back_without_downloading(
    stack: Stack, short_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    downloads: list[Any] = []
    real_download = S3ObjectStore.download

    async def spy(self: S3ObjectStore, *args: Any, **kwargs: Any) -> Any:
        downloads.append(args)
        return await real_download(self, *args, **kwargs)

    monkeypatch.setattr(S3ObjectStore, "download", spy)
    key = f"{stack.settings.watch_prefix}clip.mp4"
    stack.client("s3").upload_file(str(short_clip), stack.settings.input_bucket, key)
    seen, retrying = first_retry(stack)
    settings = stack.settings.model_copy(update={"disk_headroom_factor": 1e12})
    run_worker(stack, settings=settings, terminal=0, settle=60, until=retrying)
    assert seen, "the job never came back RETRYING"
    assert_retried_as(seen[0], "insufficient_disk")
    assert downloads == []  # on any delivery
    assert settings.temp_dir is not None
    assert list(settings.temp_dir.iterdir()) == []


# -- the sweep of a killed worker's job directories ---------------------------------------

HOLDER = """
import asyncio, sys
from pathlib import Path
from infra.workspace import LocalWorkspace

async def main() -> None:
    async with LocalWorkspace(Path(sys.argv[1])).job_dir(sys.argv[2]) as jobdir:
        jobdir.source.write_bytes(b"downloaded")
        print(jobdir.root, flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""


def hold_job_dir(parent: Path, job_id: str) -> tuple[subprocess.Popen[str], Path]:
    """Another worker process, inside a job directory."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(parent), job_id],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_the_sweep_removes_only_dead_workers_job_dirs(tmp_path: Path) -> None:
    killed, dead_dir = hold_job_dir(tmp_path, "j-" + "a" * 24)
    live, live_dir = hold_job_dir(tmp_path, "j-" + "b" * 24)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert (dead_dir / "input" / "source").exists()  # what kill -9 leaves behind
        assert f"-p{killed.pid}-" in dead_dir.name
        namespace = dead_dir.name.split("-")[3]  # n<pid namespace>
        foreign = [
            tmp_path / "ffapi-notes",  # our prefix, not our shape
            tmp_path / f"ffapi-{'j-' + 'c' * 24}-abcd1234",  # an old name without an owner
            tmp_path / f"ffapi-{'j-' + 'd' * 24}-n1-p{killed.pid}-abcd1234",  # another namespace
            tmp_path / "unrelated",
        ]
        for path in foreign:
            path.mkdir()
        not_a_dir = tmp_path / f"ffapi-{'j-' + 'e' * 24}-{namespace}-p{killed.pid}-abcd1234"
        not_a_dir.write_text("a file with our shape is still not a job dir")

        removed = LocalWorkspace(tmp_path).sweep()

        assert removed == [dead_dir]
        assert not dead_dir.exists()
        assert (live_dir / "input" / "source").read_bytes() == b"downloaded"
        assert all(path.exists() for path in [*foreign, not_a_dir])
    finally:
        live.kill()
        live.wait()


def test_job_dirs_are_named_for_their_owner_and_removed_after_the_job(tmp_path: Path) -> None:
    async def open_one() -> Path:
        async with LocalWorkspace(tmp_path).job_dir(JOB) as jobdir:
            assert stat.S_IMODE(jobdir.root.stat().st_mode) == 0o700
            assert LocalWorkspace(tmp_path).sweep() == []  # ours, and we are alive
            return jobdir.root

    root = asyncio.run(open_one())
    assert root.name.startswith(f"ffapi-{JOB}-n")
    assert f"-p{os.getpid()}-" in root.name
    assert not root.exists()


# -- the stall watchdog ---------------------------------------------------------------------

STALLING = '''#!{python}
"""An ffmpeg that starts an encode, reports once and then hangs (a stuck device or filter).
Anything run without progress goes to the real binary."""
import os, subprocess, sys, time
argv = sys.argv[1:]
if "-progress" not in argv:
    os.execv({real!r}, [{real!r}, *argv])
helper = subprocess.Popen(["sleep", "600"])  # in our process group: the kill must reach it
with open({pids!r}, "a") as f:
    f.write(f"{{os.getpid()}} {{helper.pid}}\\n")
sys.stdout.write("frame=0\\nout_time_us=N/A\\nprogress=continue\\n")
sys.stdout.write("frame=1\\nout_time_us=66666\\nprogress=continue\\n")
sys.stdout.flush()
time.sleep(600)
'''


def stalling_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the stalling fake the ffmpeg that runs; return the file it lists its pids in."""
    real = shutil.which("ffmpeg")
    assert real is not None
    bindir, pids = tmp_path / "fakebin", tmp_path / "ffmpeg-pids"
    bindir.mkdir()
    script = bindir / "ffmpeg"
    script.write_text(STALLING.format(python=sys.executable, real=real, pids=str(pids)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    use_tools_for_test(monkeypatch, ffmpeg=str(script))
    return pids


def _stat(pid: str) -> list[str] | None:
    """/proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def gone(pid: int) -> bool:
    """Exited (a zombie waiting for a parent that does not reap counts: it runs nothing)."""
    fields = _stat(str(pid))
    return fields is None or fields[0] in ("Z", "X")


def group_running(pgid: int) -> list[int]:
    """Processes of the group that still run, once a SIGKILL sent to it has had a moment to
    land (the leader's exit is awaited, its children's is not)."""
    deadline = time.monotonic() + 5
    while True:
        members = []
        for entry in Path("/proc").iterdir():
            fields = _stat(entry.name) if entry.name.isdigit() else None
            if fields is not None and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
        if not members or time.monotonic() > deadline:
            return members
        time.sleep(0.05)


def test_a_stalled_encode_is_killed_with_its_process_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = stalling_ffmpeg(tmp_path, monkeypatch)
    reports: list[Any] = []
    started = time.monotonic()
    with pytest.raises(TranscodeStalled) as info:
        asyncio.run(
            FfmpegMedia(stall_seconds=2).transcode(
                ["ffmpeg", "-i", "file:in.mp4", "file:out.mp4"], tmp_path, 60, reports.append
            )
        )
    took = time.monotonic() - started
    assert (info.value.code, info.value.retryable) == ("stalled", True)
    assert 1.5 < took < 15  # the stall time after the last advance, well before the timeout
    assert reports  # its one block still counted as progress
    leader, helper = map(int, pids.read_text().split())
    assert group_running(leader) == []  # the leader started its session: pgid == its pid
    assert gone(leader)
    assert gone(helper)


def test_a_real_encode_longer_than_the_stall_time_completes(tmp_path: Path) -> None:
    # -re: ffmpeg reads at real time, so the encode lasts 5 s, over twice the stall time.
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-v", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15:duration=5",
            "-c:v", "libx264", "-preset", "ultrafast", "file:out.mp4"]  # fmt: skip
    reports: list[Any] = []
    asyncio.run(FfmpegMedia(stall_seconds=2).transcode(argv, tmp_path, 60, reports.append))
    assert (tmp_path / "out.mp4").stat().st_size > 0
    assert len(reports) >= 3


def test_an_output_that_starts_late_is_not_taken_for_a_stall(tmp_path: Path) -> None:
    """ffmpeg 5.1 reports nothing until every output has started: a branch from 5 s in, read
    at real time, is silent for 5 s, over twice the stall time; the first output, growing on
    disk, says the run lives."""
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-v", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15:duration=7",
            "-filter_complex", "[0:v]split=2[a][b];[b]trim=start=5,setpts=PTS-STARTPTS[c]",
            # lossless: enough bytes that the muxer writes to disk from the first frames on
            "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "file:all.mp4",
            "-map", "[c]", "-c:v", "libx264", "-preset", "ultrafast", "file:late.mp4"]  # fmt: skip
    reports: list[Any] = []
    asyncio.run(FfmpegMedia(stall_seconds=2).transcode(argv, tmp_path, 60, reports.append))
    assert (tmp_path / "late.mp4").stat().st_size > 0
    assert reports[0].out_seconds >= 4.5  # the first report came once the late one started


def test_a_worker_retries_a_stalling_job(
    stack: Stack, short_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = stalling_ffmpeg(tmp_path, monkeypatch)
    key = f"{stack.settings.watch_prefix}clip.mp4"
    stack.client("s3").upload_file(str(short_clip), stack.settings.input_bucket, key)
    seen, retrying = first_retry(stack)
    settings = stack.settings.model_copy(update={"stall_seconds": 2.0})
    run_worker(stack, settings=settings, terminal=0, settle=60, until=retrying)
    assert seen, "the job never came back RETRYING"
    assert_retried_as(seen[0], "stalled")
    runs = [tuple(map(int, line.split())) for line in pids.read_text().splitlines()]
    assert runs  # the worker waits for a started attempt before it stops
    for leader, helper in runs:
        assert group_running(leader) == []
        assert gone(leader)
        assert gone(helper)
