"""Run ffmpeg and ffprobe: argv lists only (never a shell), a wall-clock timeout, a stall
watchdog on encodes that report progress, bounded stderr, and the kernel limits a plan asks
for (:class:`core.media.hardening.ResourceLimits`) set in the child before ``exec``.

Failures are classified from stderr by :func:`core.media.diagnose.classify_ffmpeg_failure`, and
first by :func:`core.media.diagnose.limit_breach` when a limit explains them.

Each child runs from the absolute paths :mod:`infra.tools` resolved at start, in a process
group of its own (a kill takes the group), with a clean environment and
``PR_SET_PDEATHSIG`` (:mod:`infra.confinement`: a worker killed with -9 takes its ffmpeg
with it). An encode asked for progress gets ``-progress pipe:1``, its lines fed as they
come; ``packets`` hands QC ffprobe's ``-show_packets`` CSV (no decoding) line by line. A
running child beats the job's pulse every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Literal, TypeVar

import structlog

from core.errors import (
    InvalidMedia,
    ResourceExhausted,
    TranscodeFailed,
    TranscodeStalled,
    TranscodeTimeout,
    UnsupportedMedia,
)
from core.events.progress import EncodeProgress, ProgressBlocks
from core.jobs import pulse
from core.media.diagnose import classify_ffmpeg_failure, limit_breach, stderr_tail
from core.media.hardening import NO_LIMITS, SOURCE_GUARD, InputGuard, ResourceLimits
from core.media.plan import packets_argv, probe_argv
from core.media.probe_doc import ProbeDoc, probe_doc
from core.streaming.qc import Packet
from infra.confinement import child_env, in_child
from infra.tools import tools_in_force

log = structlog.get_logger("ffapi.ffmpeg")

T = TypeVar("T")

STDERR_LIMIT = 64 * 1024  # keep the tail; a corrupt input can make ffmpeg very chatty
STDOUT_LIMIT = 16 * 1024**2  # ffprobe's JSON of a sane file is a few KB
PROBE_TIMEOUT = 60.0
# Listing packets reads the whole rendition (no decoding): ~a second per hour of it here.
PACKETS_TIMEOUT = 600.0


class FfmpegMedia:
    """The MediaTool port, backed by the ffmpeg/ffprobe binaries resolved at start
    (infra/tools.py).

    ``stall_seconds``: an encode run with progress is killed when its encoded time has not
    advanced this long (None: only the wall-clock timeout stops it). ``probe_limits``: the
    kernel limits of every ffprobe run (an encode's come with it)."""

    def __init__(
        self, stall_seconds: float | None = None, probe_limits: ResourceLimits = NO_LIMITS
    ) -> None:
        self._stall_seconds = stall_seconds
        self._probe_limits = probe_limits

    async def probe(self, path: Path, guard: InputGuard = SOURCE_GUARD) -> ProbeDoc:
        code, stdout, stderr = await run_argv(
            probe_argv(PurePosixPath(path), guard),
            cwd=path.parent,
            timeout=PROBE_TIMEOUT,
            limits=self._probe_limits,
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
        return probe_doc(doc)

    async def transcode(
        self,
        argv: Sequence[str],
        cwd: Path,
        timeout: float,
        progress: Callable[[EncodeProgress], None] | None = None,
        limits: ResourceLimits = NO_LIMITS,
    ) -> None:
        await self._ffmpeg(argv, cwd, timeout, progress, limits)

    async def measure(
        self,
        argv: Sequence[str],
        cwd: Path,
        timeout: float,
        progress: Callable[[EncodeProgress], None] | None = None,
        limits: ResourceLimits = NO_LIMITS,
    ) -> str:
        return await self._ffmpeg(argv, cwd, timeout, progress, limits)

    async def _ffmpeg(
        self, argv: Sequence[str], cwd: Path, timeout: float,
        progress: Callable[[EncodeProgress], None] | None, limits: ResourceLimits,
    ) -> str:  # fmt: skip
        """Run ffmpeg (progress read from stdout, watched for stalls); its log's tail."""
        on_line: Callable[[str], None] | None = None
        stall: StallWatch | None = None
        if progress is not None:  # ffmpeg's key=value blocks on stdout, once a second
            argv = [argv[0], "-progress", "pipe:1", "-stats_period", "1", *argv[1:]]
            blocks = ProgressBlocks(progress)
            on_line = blocks.feed
            if self._stall_seconds is not None:
                stall = StallWatch(self._stall_seconds)
                on_line = _both(blocks.feed, stall.feed)
        code, _, stderr = await run_argv(
            argv, cwd=cwd, timeout=timeout, on_line=on_line, stall=stall, limits=limits
        )
        if code != 0:
            raise classify_ffmpeg_failure(stderr)
        return stderr

    async def packets(
        self,
        parts: Sequence[Path],
        formats: tuple[str, ...],
        stream: Literal["v", "a"],
        on_packet: Callable[[Packet], None],
    ) -> None:
        where = parts[0].parent
        if any(p.parent != where for p in parts):
            raise ValueError("a file's parts are read from one directory")
        argv = packets_argv([p.name for p in parts], formats, stream)

        def on_line(line: str) -> None:  # one packet a line, parsed as it comes
            if (packet := _packet(line)) is not None:
                on_packet(packet)

        code, _, stderr = await run_argv(
            argv, cwd=where, timeout=PACKETS_TIMEOUT, on_line=on_line, limits=self._probe_limits
        )
        if code != 0:
            raise TranscodeFailed(
                f"cannot read the packets of {parts[0].name}", stderr_tail=stderr_tail(stderr)
            )


def _packet(line: str) -> Packet | None:
    """``pts_time,duration_time,size,pos,flags`` (ffprobe's order); None for a line without
    a timestamp (a packet with no pts says nothing about timing)."""
    fields = line.strip().split(",")
    if len(fields) < 5:
        return None
    try:
        pts = float(fields[0])
        duration = float(fields[1]) if fields[1] not in ("", "N/A") else 0.0
        size = int(fields[2]) if fields[2] not in ("", "N/A") else 0
        pos = int(fields[3]) if fields[3] not in ("", "N/A") else -1
    except ValueError:
        return None
    return Packet(pts=pts, duration=duration, key=fields[4].startswith("K"), pos=pos, size=size)


class StallWatch:
    """ffmpeg's encoded time (``out_time_us``), watched for advances.

    The clock starts with the process. ffmpeg 5.1 prints no progress block until every
    output has started (a steps job's preview from 5 min in, or its frames at fixed times,
    start late), and its first blocks may say ``out_time_us=N/A``: until the first number,
    the outputs that have started growing on disk counts as progress (a wedged ffmpeg, or
    one spinning on a damaged input, writes nothing). After it, only an advance of the
    encoded time does; any advance starts the clock again.
    """

    POLL = 1.0  # seconds between looks at the bytes written, before the first block

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._since = clock()
        self._furthest: int | None = None
        self._written: Callable[[], int] | None = None
        self._written_seen: int | None = None

    def writing(self, written: Callable[[], int]) -> None:
        """How to read the bytes the run has written so far."""
        self._written = written

    def feed(self, line: str) -> None:
        key, _, value = line.strip().partition("=")
        if key != "out_time_us":
            return
        try:
            encoded = int(value)
        except ValueError:  # N/A: nothing muxed yet
            return
        if self._furthest is None or encoded > self._furthest:
            self._furthest, self._since = encoded, self._clock()

    async def stalled(self) -> None:
        """Return once the encoded time has stood still for ``seconds``."""
        while True:  # every advance moves the deadline on
            self._count_written()
            left = self._since + self.seconds - self._clock()
            if left <= 0:
                return
            early = self._written is not None and self._furthest is None
            await asyncio.sleep(min(left, self.POLL) if early else left)

    def _count_written(self) -> None:
        if self._written is None or self._furthest is not None:
            return
        written = self._written()
        if self._written_seen is not None and written > self._written_seen:
            self._since = self._clock()
        self._written_seen = written


def bytes_under(root: Path) -> int:
    """The size of every file under ``root`` (a job directory: a few thousand at most)."""
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):  # a segment renamed or removed meanwhile
                total += os.stat(os.path.join(folder, name), follow_symlinks=False).st_size
    return total


def _both(first: Callable[[str], None], second: Callable[[str], None]) -> Callable[[str], None]:
    def feed(line: str) -> None:
        first(line)
        second(line)

    return feed


async def run_argv(
    argv: Sequence[str], cwd: Path, timeout: float,
    on_line: Callable[[str], None] | None = None, stall: StallWatch | None = None,
    limits: ResourceLimits = NO_LIMITS,
) -> tuple[int, str, str]:  # fmt: skip
    """Run one process to completion under ``limits``; kill it (and fail with
    TranscodeTimeout) at the deadline, or (TranscodeStalled) when ``stall`` says its output
    stopped advancing.

    Returns (exit code, stdout, the last STDERR_LIMIT bytes of stderr). With ``on_line``,
    stdout is handed over line by line as it comes instead (and "" returned for it). A
    failure one of ``limits`` explains, or a refusal of the input guard that ffmpeg survived
    (a picture over ``-max_pixels``), is raised (:func:`core.media.diagnose.limit_breach`); a
    process killed by a signal we did not send (the OOM killer, most often) fails as
    ResourceExhausted.

    While it runs, the job's pulse (core/jobs/pulse.py) beats: a child within its deadline is
    a sign of life, silent or not (a storyboard over hours of input prints nothing for
    minutes); its own timeout and the stall watchdog are what bound it.
    """
    argv = tools_in_force().argv(argv)  # ffmpeg/ffprobe: the paths resolved at start
    alive = asyncio.create_task(_beat_every_second())
    try:
        return await _run(argv, cwd, timeout, on_line, stall, limits)
    finally:
        alive.cancel()


async def _beat_every_second() -> None:
    while True:
        pulse.beat()
        await asyncio.sleep(1)


async def _run(
    argv: Sequence[str], cwd: Path, timeout: float,
    on_line: Callable[[str], None] | None, stall: StallWatch | None, limits: ResourceLimits,
) -> tuple[int, str, str]:  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(),
        start_new_session=True,  # a kill reaches the whole process group, not just ffmpeg
        preexec_fn=in_child(os.getpid(), limits),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    if stall is not None:
        stall.writing(lambda: bytes_under(cwd))
    tail = bytearray()  # filled as stderr comes, so a stopped run still has its last words
    try:
        reader = (
            _read_lines(proc.stdout, on_line) if on_line else _read_all(proc.stdout, STDOUT_LIMIT)
        )
        streams = asyncio.gather(reader, _read_tail(proc.stderr, STDERR_LIMIT, tail), proc.wait())
        async with asyncio.timeout(timeout):
            finished = await _unless_stalled(streams, stall)
    except TimeoutError:
        _kill(proc)
        await proc.wait()
        raise TranscodeTimeout(f"{argv[0]} exceeded {timeout:.0f}s and was stopped") from None
    except BaseException:  # cancelled, or a reader gave up: the process must not outlive us
        _kill(proc)
        await proc.wait()
        raise
    stderr = tail.decode(errors="replace")
    if finished is None:  # the watchdog's verdict: the whole group goes, the attempt is retried
        _kill(proc)
        await proc.wait()
        assert stall is not None
        raise TranscodeStalled(
            f"{argv[0]} made no progress for {stall.seconds:g}s and was stopped",
            stderr_tail=stderr_tail(stderr),
        )
    stdout = finished[0]
    code = proc.returncode if proc.returncode is not None else -1
    log.debug("process.exited", tool=argv[0], code=code)
    if (breach := limit_breach(stderr, code, limits, tool=argv[0])) is not None:
        raise breach
    if code < 0:
        raise ResourceExhausted(
            f"{argv[0]} was killed by signal {-code}", stderr_tail=stderr_tail(stderr)
        )
    return code, stdout, stderr


async def _unless_stalled(work: Awaitable[T], stall: StallWatch | None) -> T | None:
    """``work``'s result, or None (``work`` cancelled) once ``stall`` says it stalled."""
    if stall is None:
        return await work
    running, watchdog = asyncio.ensure_future(work), asyncio.ensure_future(stall.stalled())
    try:
        await asyncio.wait({running, watchdog}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when we are cancelled (the deadline): nothing is left running
        watchdog.cancel()
        finished = running.done()
        if not finished:
            running.cancel()
            await asyncio.wait({running})  # its readers end before the process is killed
            with contextlib.suppress(asyncio.CancelledError):
                running.exception()  # a cancelled gather ends holding a CancelledError
    return running.result() if finished else None


async def _read_tail(stream: asyncio.StreamReader, limit: int, tail: bytearray) -> None:
    """Keep only the last ``limit`` bytes: a corrupt input can make ffmpeg log without end."""
    while chunk := await stream.read(65536):
        tail += chunk
        del tail[:-limit]


async def _read_lines(stream: asyncio.StreamReader, on_line: Callable[[str], None]) -> str:
    while line := await stream.readline():
        on_line(line.decode(errors="replace"))
    return ""


async def _read_all(stream: asyncio.StreamReader, limit: int) -> str:
    """ffprobe's JSON; more than ``limit`` bytes of it is not a file we will handle."""
    data = bytearray()
    while chunk := await stream.read(65536):
        data += chunk
        if len(data) > limit:
            raise InvalidMedia(f"probe output exceeds {limit} bytes")
    return data.decode(errors="replace")


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited on its own meanwhile
        os.killpg(proc.pid, signal.SIGKILL)


async def make_sample_clip(
    dest: Path, seconds: int = 10, width: int = 1280, height: int = 720, fps: int = 30
) -> Path:
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
