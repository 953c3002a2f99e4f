"""Inputs kept on this worker's disk for the chunks of a split job that come back to it.

A split job's parent downloads its input to probe and plan it; then each chunk is a job of
its own, and with two or three chunks landing on every worker, each would download the whole
input again (a film's 9 GB per chunk). :class:`LinkedSourceCopies` keeps the downloaded file
by a hard link in one directory of the worker's (the job directory's own link goes with the
job; this one stays): a later chunk of the same job on this worker links it into its fresh
job directory instead of downloading it again.

Only a pinned object is kept (its ETag or version id is in the name): a copy is exactly the
bytes the parent planned from, never a newer object under the same key. The copies are
read-only (a job that wrote into its input would fail there, not change another's). At most
``keep`` are kept (the worker's job slots), the least recently used leave first, and none
outlives ``max_age`` seconds unused: the disk a kept copy holds is the disk a job reserves.
The directory, made with the first copy, is named as a job directory of this process, so
a later start sweeps it (:meth:`infra.workspace.LocalWorkspace.sweep`) if this one dies;
:meth:`close` removes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

import structlog

from core.models import S3ObjectRef
from infra.workspace import owner_tag

log = structlog.get_logger("ffapi.sources")

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP


class LinkedSourceCopies:
    def __init__(self, parent: Path, keep: int = 1, max_age: float = 900.0) -> None:
        self._parent = parent
        self._dir: Path | None = None  # made with the first copy: a worker never split has none
        self._keep = max(1, keep)
        self._max_age = max_age

    @property
    def directory(self) -> Path | None:
        return self._dir

    async def link(self, ref: S3ObjectRef, dest: Path) -> bool:
        """Link the kept copy of ``ref`` to ``dest``; False when none is kept (or it cannot
        be linked there: then the caller downloads, as without a copy)."""
        name = _name(ref)
        if name is None or self._dir is None:
            return False
        return await asyncio.to_thread(self._link, self._dir / name, dest)

    async def keep(self, ref: S3ObjectRef, path: Path) -> None:
        """Keep ``path``, the whole of the pinned object ``ref``, for a later :meth:`link`."""
        name = _name(ref)
        if name is not None:
            await asyncio.to_thread(self._keep_one, path, name)

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def _made(self) -> Path:
        if self._dir is None:
            self._parent.mkdir(parents=True, exist_ok=True)
            # ffapi-<word>-<hex>-n<ns>-p<pid>-<8>: a job directory's shape, swept as one
            prefix = f"ffapi-sources-0-{owner_tag()}-"
            self._dir = Path(tempfile.mkdtemp(prefix=prefix, dir=self._parent))
        return self._dir

    def _link(self, copy: Path, dest: Path) -> bool:
        self._expire(copy.parent)
        try:
            os.link(copy, dest)
            os.utime(copy)  # used now: the last to leave
        except OSError:  # none kept, or another file system (EXDEV): download it
            return False
        log.info("source.linked", size=copy.stat().st_size)
        return True

    def _keep_one(self, path: Path, name: str) -> None:
        directory = self._made()
        copy = directory / name
        staged = directory / f".{name}.{os.getpid()}"
        try:
            os.chmod(path, _READ_ONLY)  # the job's link shares it: no one writes into it
            os.link(path, staged)
            os.replace(staged, copy)
        except OSError as exc:  # another file system: nothing kept, nothing lost
            log.info("source.not_kept", error=type(exc).__name__)
            staged.unlink(missing_ok=True)
            return
        self._expire(directory, spare=copy)

    def _expire(self, directory: Path, spare: Path | None = None) -> None:
        """The copies beyond ``keep`` (least recently used first) and the stale ones go."""
        now, copies = time.time(), []
        for entry in directory.iterdir():
            try:
                copies.append((entry.stat().st_mtime, entry))
            except FileNotFoundError:
                continue
        copies.sort(reverse=True)
        kept = 0
        for used, entry in copies:
            if entry == spare or (kept < self._keep and now - used < self._max_age):
                kept += 1
                continue
            entry.unlink(missing_ok=True)


def _name(ref: S3ObjectRef) -> str | None:
    """The copy's file name: the object's identity, hashed (no key text on the disk)."""
    if not ref.etag and not ref.version_id:
        return None  # not pinned: the bytes under the key may change
    ident = "\0".join((ref.bucket, ref.key, ref.version_id or "", ref.etag or ""))
    return hashlib.sha256(ident.encode()).hexdigest()
