"""Real worker processes for the chaos and security suites: started as ``ffapi worker`` is
in production (its own interpreter, settings from ``FFAPI_*``, the emulator by
``AWS_ENDPOINT_URL``), killed with real signals, and inspected from outside: its JSON log, the
ffmpeg processes under its work directory, what is left in that directory.

An ``ffmpeg`` first on the workers' PATH records each run before it execs the real one, so
a test can count transcodes per job without looking inside the worker. With
``measure_tools``, ``ffmpeg`` and ``ffprobe`` both record their argv and their peak memory
(tools.py) instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from infra.settings import Settings, environment_text, settings_environment

from .tools import ToolRun, install_measuring_tools, read_tool_runs

REPO = Path(__file__).resolve().parents[2]
FFAPI = Path(sys.executable).with_name("ffapi")


@dataclass
class WorkerProcess:
    name: str
    work_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is cleaned up, as when a host dies."""
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, timeout: float = 60) -> tuple[int, float]:
        """SIGTERM, as ECS sends it: (exit code, seconds it took to exit). A worker started a
        moment ago is let reach its loop first: a signal before Python has set its handler
        ends the process at once (-15), which is not the drain a stop is meant to test."""
        self._wait_started(min(timeout, 30.0))
        began = time.monotonic()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - began

    def _wait_started(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        while self.alive() and time.monotonic() < deadline:
            if any(line.get("event") == "worker.started" for line in self.log()):
                return
            time.sleep(0.1)

    def peak_rss_kib(self) -> int:
        """The worker's own peak resident memory so far (its children not included)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1])

    def log(self) -> list[dict[str, Any]]:
        """The worker's structured log lines (JSON on stderr)."""
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                lines.append(json.loads(raw))
        return lines


class Fleet:
    """Worker processes pointed at one stack, each with its own work directory under
    ``root`` (as each ECS task has its own disk)."""

    def __init__(
        self,
        settings: Settings,
        root: Path,
        endpoint_url: str,
        stall_encodes: bool = False,
        measure_tools: bool = False,
    ) -> None:
        self.settings = settings
        self.root = root
        self.endpoint_url = endpoint_url
        self.workers: list[WorkerProcess] = []
        self.ffmpeg_runs = root / "ffmpeg-runs.log"
        self.tool_log = root / "tool-runs.jsonl"
        self._bin = root / "bin"
        self._bin.mkdir(parents=True, exist_ok=True)
        if measure_tools:
            assert not stall_encodes, "the measuring tools run every encode"
            install_measuring_tools(self._bin, self.tool_log)
        else:
            _recording_ffmpeg(self._bin / "ffmpeg", self.ffmpeg_runs, stall_encodes)

    def start(
        self, name: str, *, hold: str | None = None, marker: Path | None = None, **overrides: object
    ) -> WorkerProcess:
        """A worker; with ``hold``, one that stops dead at that phase of its first job when
        it is the first to reach ``marker`` (see holding_worker)."""
        work = self.root / name
        work.mkdir(parents=True, exist_ok=True)
        log_path = self.root / f"{name}-{len(self.workers)}.log"
        if hold is None:
            argv = [str(FFAPI), "worker"]
        else:
            assert marker is not None
            argv = [sys.executable, "-m", "tests.chaos.holding_worker", hold, str(marker)]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                argv, cwd=REPO, env=self._env(work, overrides), stdout=log, stderr=subprocess.STDOUT
            )
        worker = WorkerProcess(name, work, log_path, proc)
        self.workers.append(worker)
        return worker

    def _env(self, work: Path, overrides: dict[str, object]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FFAPI_")}
        env.update(settings_environment(self.settings))
        values = {**overrides, "temp_dir": work}
        env.update({f"FFAPI_{k.upper()}": environment_text(v) for k, v in values.items()})
        env.update(
            AWS_ENDPOINT_URL=self.endpoint_url,
            PATH=f"{self._bin}{os.pathsep}{os.environ['PATH']}",
            PYTHONPATH=str(REPO),
            FFAPI_LOG_LEVEL="INFO",
            FFAPI_LOG_FORMAT="json",
        )
        return env

    def running(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.alive()]

    def stop(self, timeout: float = 60) -> list[int]:
        """SIGTERM to every live worker; their exit codes."""
        return [w.terminate(timeout)[0] for w in self.running()]

    def kill_all(self) -> None:
        for worker in self.running():
            worker.kill()

    def ffmpeg_processes(self) -> list[str]:
        """ffmpeg processes working under this fleet's directories, by command line."""
        found = subprocess.run(
            ["pgrep", "-af", f"ffmpeg .*{self.root}/"], capture_output=True, text=True, check=False
        )
        return [line for line in found.stdout.splitlines() if "pgrep" not in line]

    def ffmpeg_under(self, worker: WorkerProcess) -> list[str]:
        return [p for p in self.ffmpeg_processes() if f"{worker.work_dir}/" in p]

    def encoding(self) -> WorkerProcess | None:
        """The live worker with an ffmpeg running in its work directory, if any."""
        running = "\n".join(self.ffmpeg_processes())
        for worker in self.running():
            if f"{worker.work_dir}/" in running:
                return worker
        return None

    def holder(self, marker: Path) -> WorkerProcess | None:
        """The worker that stopped at a held phase (holding_worker), once one has."""
        if not marker.exists() or not marker.read_text():
            return None
        pid = int(marker.read_text())
        return next(w for w in self.workers if w.pid == pid)

    def job_dirs(self) -> list[Path]:
        """Job directories left in any worker's work directory."""
        return [p for w in self.workers for p in w.work_dir.glob("ffapi-*")]

    def transcodes(self, job_id: str) -> int:
        """ffmpeg runs that wrote a job's media (not probes, not capability checks)."""
        if not self.ffmpeg_runs.exists():
            return 0
        runs = self.ffmpeg_runs.read_text().splitlines()
        return sum(f"ffapi-{job_id}-" in run and "-progress" in run for run in runs)

    def tool_runs(self) -> list[ToolRun]:
        """Every ffmpeg and ffprobe run so far (``measure_tools`` only)."""
        return read_tool_runs(self.tool_log)

    def messages_for(self, job_id: str) -> set[str]:
        """Ids of the queue messages the workers handled for this job."""
        lines = (line for w in self.workers for line in w.log())
        return {line["message_id"] for line in lines if line.get("job_id") == job_id}

    def logged(self, event: str) -> list[dict[str, Any]]:
        return [line for w in self.workers for line in w.log() if line.get("event") == event]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill_all()
        for pid in _pids(f"ffmpeg .*{self.root}/"):  # never leave an encode behind a failure
            os.kill(pid, signal.SIGKILL)


def _recording_ffmpeg(path: Path, runs: Path, stall_encodes: bool) -> None:
    """With ``stall_encodes``, an encode (a run reporting ``-progress``) hangs without a
    word, as ffmpeg does on a wedged GPU or a stuck network mount."""
    real = shutil.which("ffmpeg")
    assert real is not None, "ffmpeg is required"
    # ffmpeg's environment is scrubbed by the worker (PATH and locale only): the log's path
    # is written into the script.
    stall = 'case " $* " in *" -progress "*) exec sleep 600;; esac\n' if stall_encodes else ""
    path.write_text(f'#!/bin/sh\necho "$*" >> {runs}\n{stall}exec {real} "$@"\n')
    path.chmod(0o755)


def _pids(pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split() if int(pid) != os.getpid()]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll until ``condition()`` is truthy; its value. Fails the test with ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)
