"""Per-job private directories on local disk, created fresh and always removed."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
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
