"""Measuring stand-ins for ``ffmpeg`` and ``ffprobe``, first on a worker's PATH.

Each records, in one JSON-lines file, the argv and working directory of every run as it
starts (a run killed midway still counts as started), then runs the real binary as its child
and records how it ended and the child's peak resident memory (``ru_maxrss`` from
``os.wait4``). A test then asks what ran for a job, with which arguments, using how much
memory, without looking inside the worker.

The worker hands its tools PATH and the locale only, so the script carries every path it
needs. It runs with ``-I`` (isolated: no site-packages, no environment): the standard library
is all it uses, and it starts in a few milliseconds.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOOLS = ("ffmpeg", "ffprobe")

_SCRIPT = """\
#!{python} -I
import ctypes, json, os, signal, sys

REAL, LOG, TOOL = {real!r}, {log!r}, {tool!r}
RUN = os.urandom(8).hex()  # pids are reused; this is not


def record(**fields):
    line = json.dumps({{"tool": TOOL, "run": RUN, **fields}}) + "\\n"
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())  # one O_APPEND write: lines of concurrent runs never mix
    finally:
        os.close(fd)


record(event="start", argv=sys.argv[1:], cwd=os.getcwd())
child = os.fork()
if child == 0:
    try:  # the real tool dies with its stand-in, as the worker's child would die with it
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        os.execv(REAL, [REAL, *sys.argv[1:]])
    finally:
        os._exit(127)
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, lambda number, frame: os.kill(child, number))
while True:
    try:
        _, status, usage = os.wait4(child, 0)
        break
    except InterruptedError:
        continue
record(event="end", status=status, maxrss_kib=usage.ru_maxrss)
if os.WIFSIGNALED(status):  # end as the real tool did: the worker tells a kill from a failure
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
sys.exit(os.WEXITSTATUS(status))
"""


def install_measuring_tools(bin_dir: Path, log: Path) -> None:
    """``ffmpeg`` and ``ffprobe`` in ``bin_dir`` that record each run in ``log``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        real = shutil.which(tool)
        assert real is not None, f"{tool} is required"
        script = _SCRIPT.format(python=sys.executable, real=real, log=str(log), tool=tool)
        path = bin_dir / tool
        path.write_text(script)
        path.chmod(0o755)


@dataclass(frozen=True)
class ToolRun:
    tool: str
    argv: tuple[str, ...]
    cwd: str
    maxrss_kib: int | None  # None: it has not ended (or its stand-in was killed)
    status: int | None

    def mentions(self, text: str) -> bool:
        return text in self.cwd or any(text in arg for arg in self.argv)

    @property
    def encodes(self) -> bool:
        """A run that writes a job's media (a transcode reports ``-progress``); probes and
        the capability check's test encodes do not."""
        return self.tool == "ffmpeg" and "-progress" in self.argv


def read_tool_runs(log: Path) -> list[ToolRun]:
    if not log.exists():
        return []
    started: dict[str, dict[str, Any]] = {}
    ended: dict[str, dict[str, Any]] = {}
    for raw in log.read_text().splitlines():
        line = json.loads(raw)
        (started if line["event"] == "start" else ended)[line["run"]] = line
    return [_run(start, ended.get(run)) for run, start in started.items()]


def _run(start: dict[str, Any], end: dict[str, Any] | None) -> ToolRun:
    return ToolRun(
        tool=start["tool"],
        argv=tuple(start["argv"]),
        cwd=start["cwd"],
        maxrss_kib=end["maxrss_kib"] if end else None,
        status=end["status"] if end else None,
    )


def runs_for(runs: Iterable[ToolRun], job_id: str) -> list[ToolRun]:
    """The runs made in a job's directories (the worker names them ``ffapi-{job id}-...``)."""
    return [r for r in runs if r.mentions(f"ffapi-{job_id}-")]
