"""Per-job private directories on local disk, created fresh and always removed."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from core.ports import JobDir


class LocalWorkspace:
    def __init__(self, parent: Path | None = None) -> None:
        self._parent = parent
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def job_dir(self, job_id: str) -> AsyncIterator[JobDir]:
        # mkdtemp: a new name every attempt, mode 0700; the job id is ours, never the S3 key.
        root = Path(tempfile.mkdtemp(prefix=f"ffapi-{job_id}-", dir=self._parent))
        try:
            (root / "input").mkdir()
            (root / "out").mkdir()
            yield JobDir(root=root, source=root / "input" / "source", out=root / "out")
        finally:
            await asyncio.to_thread(shutil.rmtree, root, ignore_errors=True)


class LocalDiskFiles:
    """The job directory's files on local disk; blocking calls run in a thread."""

    async def read_text(self, path: Path) -> str:
        return await asyncio.to_thread(path.read_text, "utf-8")

    async def write_text(self, path: Path, text: str) -> None:
        await asyncio.to_thread(path.write_text, text, "utf-8")

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
