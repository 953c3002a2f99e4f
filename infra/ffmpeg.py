"""Run ffmpeg and ffprobe: argv lists only (never a shell), a wall-clock timeout, bounded stderr.

Failures are classified from stderr by :func:`core.diagnose.classify_ffmpeg_failure`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import structlog

from core.diagnose import classify_ffmpeg_failure, stderr_tail
from core.errors import InvalidMedia, ResourceExhausted, TranscodeTimeout, UnsupportedMedia
from core.plan import SOURCE_FORMATS, probe_argv

log = structlog.get_logger("ffapi.ffmpeg")

STDERR_LIMIT = 64 * 1024  # keep the tail; a corrupt input can make ffmpeg very chatty
PROBE_TIMEOUT = 60.0


class MissingBinary(RuntimeError):
    pass


def require_binaries(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise MissingBinary(
            f"{', '.join(missing)} not found on PATH. On Debian/Ubuntu: "
            "`sudo apt-get install -y ffmpeg`; on macOS: `brew install ffmpeg`."
        )


class FfmpegMedia:
    """The MediaTool port, backed by the ffmpeg/ffprobe binaries on PATH."""

    async def probe(self, path: Path, formats: tuple[str, ...] = SOURCE_FORMATS) -> dict[str, Any]:
        code, stdout, stderr = await run_argv(
            probe_argv(PurePosixPath(path), formats), cwd=path.parent, timeout=PROBE_TIMEOUT
        )
        if code != 0:
            error = classify_ffmpeg_failure(stderr, tool="ffprobe")
            if isinstance(error, ResourceExhausted | UnsupportedMedia):
                raise error
            # ffprobe has one job: reading the file. If it cannot, the input is not media.
            raise InvalidMedia(error.message, stderr_tail=error.stderr_tail)
        try:
            doc = json.loads(stdout)
        except ValueError as exc:
            raise InvalidMedia("ffprobe printed no JSON", stderr_tail=stderr_tail(stderr)) from exc
        return doc if isinstance(doc, dict) else {}

    async def transcode(self, argv: Sequence[str], cwd: Path, timeout: float) -> None:
        code, _, stderr = await run_argv(argv, cwd=cwd, timeout=timeout)
        if code != 0:
            raise classify_ffmpeg_failure(stderr)


async def run_argv(argv: Sequence[str], cwd: Path, timeout: float) -> tuple[int, str, str]:
    """Run one process to completion; kill it (and fail with TranscodeTimeout) at the deadline."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_child_env(),
        start_new_session=True,  # a kill reaches the whole process group, not just ffmpeg
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        _kill(proc)
        await proc.wait()
        raise TranscodeTimeout(f"{argv[0]} exceeded {timeout:.0f}s and was stopped") from None
    except asyncio.CancelledError:
        _kill(proc)
        await proc.wait()
        raise
    log.debug("process.exited", tool=argv[0], code=proc.returncode)
    return (
        proc.returncode if proc.returncode is not None else -1,
        stdout.decode(errors="replace"),
        stderr[-STDERR_LIMIT:].decode(errors="replace"),
    )


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited on its own meanwhile
        os.killpg(proc.pid, signal.SIGKILL)


def _child_env() -> dict[str, str]:
    # ffmpeg needs no credentials: hand it PATH and locale only, never the AWS secrets.
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


async def make_sample_clip(dest: Path, seconds: int = 10, width: int = 1280, height: int = 720,
                           fps: int = 30) -> Path:  # fmt: skip
    """A synthetic test clip: moving test pattern plus a stereo tone, H.264/AAC in MP4."""
    argv = [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-filter_complex", "[1:a]aformat=channel_layouts=stereo[a]",
        "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-shortest",
        "-movflags", "+faststart", f"file:{dest}",
    ]  # fmt: skip
    code, _, stderr = await run_argv(argv, cwd=dest.parent, timeout=120)
    if code != 0:
        raise RuntimeError(f"could not generate the sample clip: {stderr_tail(stderr)}")
    return dest
