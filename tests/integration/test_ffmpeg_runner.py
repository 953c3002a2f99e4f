"""The process runner under ffmpeg: deadlines, clean environment, classified failures."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import InvalidMedia, ResourceExhausted, TranscodeTimeout, UnsupportedMedia
from core.jobs import pulse
from core.streaming.playlists import MediaPlaylist
from core.streaming.qc import PacketFold
from infra.ffmpeg import STDERR_LIMIT, FfmpegMedia, run_argv

from .conftest import use_tools_for_test

pytestmark = pytest.mark.integration


def test_a_run_past_its_deadline_fails_as_a_retryable_timeout(tmp_path: Path) -> None:
    endless = ["ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc",
               "-f", "null", "-"]  # fmt: skip
    with pytest.raises(TranscodeTimeout) as info:
        asyncio.run(run_argv(endless, cwd=tmp_path, timeout=1.0))
    assert info.value.retryable is True
    assert info.value.code == "transcode_timeout"


def test_children_get_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    monkeypatch.setenv("FFAPI_SOMETHING", "x")
    code, stdout, _ = asyncio.run(run_argv(["env"], cwd=tmp_path, timeout=10))
    assert code == 0
    names = {line.split("=", 1)[0] for line in stdout.splitlines()}
    assert names <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "CUDA_DEVICE_ORDER"}
    assert "CUDA_DEVICE_ORDER=PCI_BUS_ID" in stdout.splitlines()  # nvidia-smi's numbering
    assert "do-not-leak" not in stdout
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == "do-not-leak"  # ours is untouched


def test_probe_tells_garbage_from_refused_containers(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(InvalidMedia) as bad:
        asyncio.run(FfmpegMedia().probe(garbage))
    assert bad.value.stderr_tail

    concat = tmp_path / "list"
    concat.write_text("ffconcat version 1.0\nfile /etc/hostname\n")
    with pytest.raises(UnsupportedMedia):
        asyncio.run(FfmpegMedia().probe(concat))


def test_a_process_killed_by_a_signal_is_a_resource_failure(tmp_path: Path) -> None:
    # What the OOM killer does to ffmpeg: not the input's fault, so retryable.
    with pytest.raises(ResourceExhausted) as info:
        asyncio.run(run_argv(["sh", "-c", "kill -9 $$"], cwd=tmp_path, timeout=10))
    assert info.value.retryable is True


def test_stderr_is_kept_to_its_tail_however_much_is_written(tmp_path: Path) -> None:
    chatty = ["sh", "-c", "yes 'corrupt frame' | head -c 5000000 >&2; echo last line >&2"]
    code, _, stderr = asyncio.run(run_argv(chatty, cwd=tmp_path, timeout=30))
    assert code == 0
    assert len(stderr) <= STDERR_LIMIT
    assert stderr.endswith("last line\n")


def test_a_worker_killed_outright_takes_its_child_with_it(tmp_path: Path) -> None:
    """kill -9 runs no cleanup: the child (in its own session, out of reach of a signal to
    the worker's group) must still die with the worker rather than run on orphaned."""
    marker = f"{3600 + secrets.randbelow(10**6) / 10**7:.7f}"  # a unique sleep to find
    script = (
        "import asyncio, pathlib; from infra.ffmpeg import run_argv; "
        f"asyncio.run(run_argv(['sleep', '{marker}'], cwd=pathlib.Path('.'), timeout=600))"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    try:
        assert wait_until(lambda: bool(pids_of(f"sleep {marker}")), 30)
        worker.kill()
        worker.wait(10)
        assert wait_until(lambda: not pids_of(f"sleep {marker}"), 10), "the child outlived it"
    finally:
        worker.kill()
        for pid in pids_of(f"sleep {marker}"):
            os.kill(pid, signal.SIGKILL)


def pids_of(command_line: str) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-fx", command_line], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in found.stdout.split()]


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_packets_are_handed_over_as_they_come_however_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six hours at 30 fps: 648,000 packets, 35 MB of ffprobe output (past the cap a probe's
    JSON gets). A QC pass of a long rendition reads them all and keeps none."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "ffprobe"
    fake.write_text(
        "#!/bin/sh\n"
        "exec awk 'BEGIN { for (i = 0; i < 648000; i++) "
        'printf "%.6f,0.033333,1000,%d,%s\\n", i / 30, 48 + i * 1000, (i % 60 ? "__" : "K_") }\'\n'
    )
    fake.chmod(0o755)
    use_tools_for_test(monkeypatch, ffprobe=str(fake))
    fold = PacketFold([48 + n * 120_000 for n in range(5400)])  # 4 s segments: 120 packets
    asyncio.run(FfmpegMedia().packets([tmp_path / "rendition.mp4"], ("mov",), "v", fold.add))
    facts = fold.facts("1080p", "video", MediaPlaylist("1080p.m3u8", None, (), 4))
    assert facts.frames == 648_000
    assert facts.duration == pytest.approx(6 * 3600, abs=0.1)
    assert len(facts.segment_starts) == 5400
    assert all(facts.segment_keyframes)
    assert facts.segment_bits == (8 * 120 * 1000,) * 5400  # packet sizes, per segment


def test_a_renditions_parts_read_in_place_as_their_joined_file_reads(tmp_path: Path) -> None:
    """An init segment and its media segments, read as one stream where they lie, give the
    packets (times, sizes, offsets, keyframes) the same file joined by hand gives."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=30", "-t", "6",
         "-c:v", "libx264", "-g", "30", "-f", "hls", "-hls_time", "1",
         "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
         "-hls_segment_filename", str(tmp_path / "seg-%05d.m4s"), str(tmp_path / "v.m3u8")],
        check=True, cwd=tmp_path,
    )  # fmt: skip
    parts = [tmp_path / "init.mp4", *sorted(tmp_path.glob("seg-*.m4s"))]
    joined = tmp_path / "joined" / "v.mp4"
    joined.parent.mkdir()
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))

    def read(files: list[Path]) -> list[tuple[float, float, int, int, bool]]:
        found: list[tuple[float, float, int, int, bool]] = []
        asyncio.run(
            FfmpegMedia().packets(
                files,
                ("mov",),
                "v",
                lambda p: found.append((p.pts, p.duration, p.size, p.pos, p.key)),
            )
        )
        return found

    in_place = read(parts)
    assert len(parts) >= 6
    assert len(in_place) == 180
    assert in_place == read([joined])
    assert sum(key for *_, key in in_place) == 6  # a keyframe a second


def test_a_silent_child_keeps_its_jobs_pulse_beating(tmp_path: Path) -> None:
    """A run that prints nothing for a while (a storyboard over a long input) is not a stuck
    job: the heartbeat must not let its message go."""

    async def quietest_moment() -> float:
        job, worst = pulse.Pulse(), 0.0
        with pulse.bound(job):
            run = asyncio.create_task(run_argv(["sleep", "3"], cwd=tmp_path, timeout=30))
            while not run.done():
                worst = max(worst, job.quiet_for())
                await asyncio.sleep(0.1)
            await run
        return worst

    assert asyncio.run(quietest_moment()) < 1.5
