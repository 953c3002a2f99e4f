"""The machine a job runs on: ffmpeg and ffprobe, the accelerator, the job directory and
its files, the task's scale-in protection (:mod:`core.ports`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from core.events.progress import EncodeProgress
from core.media.accel import AccelTier, TierChoice
from core.media.hardening import NO_LIMITS, InputGuard, ResourceLimits
from core.media.probe_doc import ProbeDoc
from core.models import S3ObjectRef
from core.streaming.qc import Packet


class MediaTool(Protocol):
    async def probe(self, path: Path, guard: InputGuard) -> ProbeDoc:
        """ffprobe's JSON as a typed :class:`ProbeDoc`, read under ``guard`` (demuxers,
        decoders, caps); raise InvalidMedia when ffprobe cannot read the file, or an
        UnsupportedMedia (a refused container or codec, a picture over the cap, too many
        streams) when the guard refused it."""
        ...

    async def transcode(
        self, argv: Sequence[str], cwd: Path, timeout: float,
        progress: Callable[[EncodeProgress], None] | None = None,
        limits: ResourceLimits = NO_LIMITS,
    ) -> None:  # fmt: skip
        """Run ffmpeg under ``limits``; raise a classified FfapiError on failure.
        ``progress`` is called with each of ffmpeg's progress reports while it runs."""
        ...

    async def measure(
        self, argv: Sequence[str], cwd: Path, timeout: float,
        progress: Callable[[EncodeProgress], None] | None = None,
        limits: ResourceLimits = NO_LIMITS,
    ) -> str:  # fmt: skip
        """Run ffmpeg for what it prints (a measuring filter's report, at ``-loglevel
        info``): the tail of its log; a failure raises as :meth:`transcode` does."""
        ...

    async def packets(
        self, parts: Sequence[Path], formats: tuple[str, ...], stream: Literal["v", "a"],
        on_packet: Callable[[Packet], None],
    ) -> None:  # fmt: skip
        """Hand over every packet of the file's first video (``v``) or audio (``a``) stream
        as ffprobe reads it (without decoding): pts, duration, keyframe flag, byte offset.
        The file is in ``parts`` (an init segment, then media segments: one directory,
        ``core.media.plan.reads_as_one`` of their names) read one after another, in place; the
        offset counts from the first part's start. None is kept: a long rendition has
        hundreds of thousands."""
        ...


class Accelerator(Protocol):
    """The machine's accelerator tiers, as one worker sees them (its probe, its GPU slots,
    its circuit breaker)."""

    def session(self) -> AbstractAsyncContextManager[tuple[TierChoice, ...]]:
        """The tiers one job may use, best first and ending with the CPU; a GPU slot is held
        until the session ends. The CPU alone when the breaker is open or every slot is
        taken."""
        ...

    def failed(self, tier: AccelTier, reason: str) -> None:
        """A GPU-class failure on ``tier``: counted, and fed to the circuit breaker."""
        ...

    def succeeded(self, tier: AccelTier) -> None: ...


class TaskProtection(Protocol):
    """The task's scale-in protection (ECS): while on, a scale-in or a deployment does not
    stop this task. Each call answers whether the agent accepted it; a refusal or an
    unreachable agent is False, never an exception (the job goes on either way)."""

    async def protect(self, expires_minutes: int) -> bool:
        """On, for ``expires_minutes`` from now (1..2880); a renewal is the same call."""
        ...

    async def release(self) -> bool: ...


class LocalFiles(Protocol):
    """The job directory's files, for the steps between ffmpeg and the upload."""

    async def read_text(self, path: Path) -> str: ...

    async def write_text(self, path: Path, text: str) -> None: ...

    async def read_bytes(self, path: Path) -> bytes: ...

    async def write_bytes(self, path: Path, data: bytes) -> None: ...

    async def sizes(self, root: Path) -> dict[str, int]:
        """Every file under ``root`` by its path relative to it."""
        ...

    async def concat(self, parts: Sequence[Path], dest: Path) -> list[int]:
        """Write the parts one after another into ``dest``; return where each starts."""
        ...

    async def make_dirs(self, root: Path, names: Sequence[str]) -> None: ...

    async def remove(self, path: Path) -> None: ...

    async def clear(self, root: Path) -> None:
        """Remove everything under ``root``, keeping ``root`` itself."""
        ...


class SourceCopies(Protocol):
    """Inputs kept on this machine after their job, by their pinned identity: the chunks of
    a split job that land on one worker download its input once, not once each
    (``infra.source_copies``)."""

    async def link(self, ref: S3ObjectRef, dest: Path) -> bool:
        """Put the kept copy of ``ref`` at ``dest``; False when there is none."""
        ...

    async def keep(self, ref: S3ObjectRef, path: Path) -> None:
        """Keep ``path`` (the whole of ``ref``, downloaded) for a later :meth:`link`."""
        ...


class SourceIndex(Protocol):
    """Where time windows of an input lie in its file (``infra.source_index``)."""

    async def fetch_head(self, ref: S3ObjectRef, dest: Path) -> bool:
        """Only the input's index and opening seconds into ``dest`` (a sparse file: enough
        to probe it and find the spans); False when it is not one this reads."""
        ...

    async def spans(
        self, path: Path, windows: Sequence[tuple[float, float]]
    ) -> list[tuple[tuple[int, int], ...]] | None:
        """Per window (seconds), the byte ranges a reader of it needs; None when this input
        is not one whose index this reads (it is then read whole)."""
        ...

    async def sound(self, path: Path) -> tuple[tuple[int, int], ...] | None:
        """The byte ranges a reader of the whole sound needs, the picture left out."""
        ...


@dataclass(frozen=True, slots=True)
class JobDir:
    """A fresh private directory for one job attempt; the names are ours, never the key's."""

    root: Path
    source: Path  # where the input is downloaded
    out: Path  # where ffmpeg writes; created empty


class Workspace(Protocol):
    def job_dir(
        self, job_id: str, reserve_bytes: int | None = None
    ) -> AbstractAsyncContextManager[JobDir]:
        """Create the job's directory and remove it, whatever happens, afterwards.

        ``reserve_bytes`` is the input's size: with too little free disk for it (and what is
        made from it) the directory is refused with InsufficientDisk, before anything is
        created or downloaded. None: the size is unknown, nothing is checked."""
        ...
