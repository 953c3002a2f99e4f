"""Local resources under failure: no download without disk room, no job directory outliving a
killed worker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.errors import InsufficientDisk
from infra.storage import S3ObjectStore
from infra.workspace import LocalWorkspace

from .conftest import Stack, run_worker

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


def scan_jobs(stack: Stack) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").scan(TableName=stack.settings.jobs_table)["Items"]
    return [dict(item) for item in items]


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

    def retrying() -> bool:
        return any(item["status"]["S"] == "RETRYING" for item in scan_jobs(stack))

    settings = stack.settings.model_copy(update={"disk_headroom_factor": 1e12})
    scenario = run_worker(stack, settings=settings, terminal=0, settle=60, until=retrying)
    [item] = scan_jobs(stack)
    assert item["status"]["S"] == "RETRYING"
    error = json.loads(item["error"]["S"])
    assert (error["code"], error["retryable"]) == ("insufficient_disk", True)
    assert item["retryable"]["BOOL"] is True
    assert downloads == []
    assert not scenario.of_type("failed")  # not the last delivery: nothing final announced
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
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
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
