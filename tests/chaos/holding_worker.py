"""``ffapi worker`` that stops dead at one phase of its first job, for a test to kill it there.

    python -m tests.chaos.holding_worker PHASE MARKER [ffapi worker options]

The first worker process to reach PHASE creates MARKER (holding its pid) and then waits at
that point, its heartbeat still running, as a worker would that is slow there: until killed,
or until the test creates MARKER.release (``released(MARKER)``); every other process, and
every later job, goes through. The production code carries no hook: this wraps the one call
that starts each phase, from outside.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from handlers.cli import main
from infra.queue import SqsQueue
from infra.storage import S3ObjectStore

# The call each phase begins with. "committed" is after the completion event went out and
# before the message is deleted: the worker's last step.
PHASES: dict[str, tuple[type, str]] = {
    "download": (S3ObjectStore, "download"),
    "upload": (S3ObjectStore, "upload_file"),
    "committed": (SqsQueue, "delete"),
}

Call = Callable[..., Coroutine[Any, Any, Any]]


def hold_at(phase: str, marker: Path) -> None:
    owner, name = PHASES[phase]
    original: Call = getattr(owner, name)

    async def holding(*args: Any, **kwargs: Any) -> Any:
        if _first_to_arrive(marker):
            await _until_released(marker)  # or killed
        return await original(*args, **kwargs)

    setattr(owner, name, holding)


def released(marker: Path) -> Path:
    """The file whose creation lets the holder go on."""
    return marker.with_name(marker.name + ".release")


async def _until_released(marker: Path) -> None:
    while True:  # the test is another process: its file is looked for, not awaited
        if released(marker).exists():
            return
        await asyncio.sleep(0.1)


def _first_to_arrive(marker: Path) -> bool:
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


if __name__ == "__main__":
    hold_at(sys.argv[1], Path(sys.argv[2]))
    sys.exit(main(["worker", *sys.argv[3:]]))
