"""Per-job private directories on local disk: created fresh (when there is room for the job)
and always removed; those of a killed process are swept at the next start.

``LocalWorkspace`` makes one ``mkdtemp`` directory (mode 0700, named for the job and its
owner process) per attempt, refused before anything is made while free disk is below the
input's size x ``FFAPI_DISK_HEADROOM_FACTOR`` (``insufficient_disk``, transient: another
worker may have room); ``sweep`` removes those whose process is gone. ``LocalDiskFiles`` is
the job directory's files (text, bytes, sizes, concat) for packaging.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from core.errors import InsufficientDisk
from core.ports import JobDir

MIB = 1024 * 1024

# ffapi-{job id}-n{pid namespace}-p{pid}-{mkdtemp's 8 random characters}. Only names of
# exactly this shape are ever swept: anything else in the parent is not ours to judge.
_OWNED = re.compile(r"ffapi-[a-z]+-[0-9a-f]+-n(?P<ns>[0-9a-f]+)-p(?P<pid>[1-9][0-9]*)-[a-z0-9_]{8}")


class LocalWorkspace:
    """``headroom_factor``: free disk a job needs, in multiples of its input's size (the
    input, the outputs and ffmpeg's scratch)."""

    def __init__(self, parent: Path | None = None, headroom_factor: float = 3.0) -> None:
        self._parent = parent
        self._factor = headroom_factor
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)

    @property
    def parent(self) -> Path:
        return self._parent if self._parent is not None else Path(tempfile.gettempdir())

    @asynccontextmanager
    async def job_dir(self, job_id: str, reserve_bytes: int | None = None) -> AsyncIterator[JobDir]:
        if reserve_bytes is not None:
            await asyncio.to_thread(self._require_room, reserve_bytes)
        # mkdtemp: a new name every attempt, mode 0700; the job id is ours, never the S3 key.
        # The owner's pid in the name lets a later start tell a dead process's leftovers.
        prefix = f"ffapi-{job_id}-{owner_tag()}-"
        root = Path(tempfile.mkdtemp(prefix=prefix, dir=self._parent))
        try:
            (root / "input").mkdir()
            (root / "out").mkdir()
            yield JobDir(root=root, source=root / "input" / "source", out=root / "out")
        finally:
            await asyncio.to_thread(shutil.rmtree, root, ignore_errors=True)

    def _require_room(self, input_bytes: int) -> None:
        need = math.ceil(input_bytes * self._factor)
        free = shutil.disk_usage(self.parent).free
        if free < need:
            raise InsufficientDisk(
                f"{free // MIB} MB free in {self.parent}; an input of {input_bytes // MIB} MB "
                f"needs {need // MIB} MB (x{self._factor:g})",
                details={"free_bytes": free, "needed_bytes": need, "input_bytes": input_bytes},
            )

    def sweep(self) -> list[Path]:
        """Remove job directories left by processes that are gone; return them.

        The system temp dir is swept too when FFAPI_TEMP_DIR is unset: the name rule is
        strict (our prefix, our pid namespace, a pid that no longer exists, our uid), so
        nothing of another program's, and nothing of a live worker sharing the directory,
        is touched. Directories of another pid namespace (another container on a shared
        volume) are left alone: their pids mean nothing here.
        """
        removed, namespace = [], _pid_namespace()
        for path in self.parent.iterdir():
            if _abandoned(path, namespace):
                shutil.rmtree(path, ignore_errors=True)
                if not path.exists():
                    removed.append(path)
        return removed


def owner_tag() -> str:
    """This process, as the directories it makes are named: what a sweep tells apart."""
    return f"n{_pid_namespace()}-p{os.getpid()}"


def _pid_namespace() -> str:
    """Pids are only meaningful inside their namespace (a container has its own)."""
    try:
        return f"{os.stat('/proc/self/ns/pid').st_ino:x}"
    except OSError:  # no /proc (macOS): one namespace for the whole machine
        return "0"


def _abandoned(path: Path, namespace: str) -> bool:
    owner = _OWNED.fullmatch(path.name)
    if owner is None or owner["ns"] != namespace:
        return False
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return False  # a symlink or a file under our name, or someone else's: not ours
    return not _alive(int(owner["pid"]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


class LocalDiskFiles:
    """The job directory's files on local disk; blocking calls run in a thread."""

    async def read_text(self, path: Path) -> str:
        return await asyncio.to_thread(path.read_text, "utf-8")

    async def write_text(self, path: Path, text: str) -> None:
        await asyncio.to_thread(path.write_text, text, "utf-8")

    async def read_bytes(self, path: Path) -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    async def write_bytes(self, path: Path, data: bytes) -> None:
        await asyncio.to_thread(path.write_bytes, data)

    async def sizes(self, root: Path) -> dict[str, int]:
        def walk() -> dict[str, int]:
            return {
                p.relative_to(root).as_posix(): p.stat().st_size
                for p in root.rglob("*")
                if p.is_file()
            }

        return await asyncio.to_thread(walk)

    async def concat(self, parts: Sequence[Path], dest: Path) -> list[int]:
        def join() -> list[int]:
            offsets = []
            with dest.open("wb") as out:
                for part in parts:
                    offsets.append(out.tell())
                    with part.open("rb") as src:
                        shutil.copyfileobj(src, out, 1024 * 1024)
            return offsets

        return await asyncio.to_thread(join)

    async def make_dirs(self, root: Path, names: Sequence[str]) -> None:
        for name in names:
            (root / name).mkdir(parents=True, exist_ok=True)

    async def remove(self, path: Path) -> None:
        await asyncio.to_thread(path.unlink, True)

    async def clear(self, root: Path) -> None:
        def empty() -> None:
            for child in root.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()

        if root.exists():
            await asyncio.to_thread(empty)
