"""One long job across many workers: the chunk message, the parent's chunk plan, and what
each chunk's ending records on the parent.

A streaming job whose picture is long (or whose request says ``split: true``) is planned as
chunks of whole segments (:func:`plan_chunks`), each a sub-job on the queue:
``{"version": 2, "chunk": {"parent": "j-...", "index": 3}}``. The message names only the
parent and the index: the chunk's request, preset and time range are read from the
parent's record (its :class:`ChunkPlan`, written once by the parent's attempt). So a chunk
runs exactly what its parent planned, with the parent's pinned input, whatever the live
configuration says by then; a message that names no split parent, or an index outside its
plan, is refused; and the message stays small however large the request.
The audio of the whole input is one more chunk (``kind="audio"``): AAC priming at chunk
edges would click.
"""

from __future__ import annotations

import zlib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.jobs.job_record import RecordedError
from core.jobs.results import JobResult, SourceInfo
from core.media.probe_doc import ProbeDoc
from core.models import CHUNK_ID_PREFIX, ChunkRef, JobId, JobRequest
from core.presets import StreamingPreset
from core.streaming.ranges import SegmentGrid, SegmentRange

MAX_CHUNKS = 400  # a 2-hour film in 20 s chunks; the record keeps every chunk's segments
AUDIO: Literal["audio"] = "audio"
VIDEO: Literal["video"] = "video"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChunkMessage(_Wire):
    """A chunk sub-job as it arrives on the jobs queue (sent by its parent's attempt)."""

    version: Literal[2]
    chunk: ChunkRef


class ChunkRange(_Wire):
    """One chunk: its index, its kind, its time range (seconds of the picture; the audio
    chunk spans it whole) and, for the picture, its whole segments on the whole encode's
    grid (:class:`core.streaming.ranges.SegmentRange`, by field)."""

    index: Annotated[int, Field(ge=0, lt=MAX_CHUNKS + 1)]
    kind: Literal["video", "audio"] = "video"
    start: Annotated[float, Field(ge=0)]
    end: Annotated[float, Field(gt=0)]
    first_segment: Annotated[int, Field(ge=0)] = 0  # the numbering continues from here
    count: Annotated[int, Field(ge=0)] = 0  # segments
    start_frame: Annotated[int, Field(ge=0)] = 0  # of the conditioned picture
    end_frame: Annotated[int, Field(ge=0)] = 0  # exclusive
    keyframe: Annotated[int, Field(ge=0)] = 0  # its first frame's place among the keyframes
    last: bool = False  # runs to the picture's end
    # the bytes of the input its encode reads ([start, end) each: its window of every track
    # and the boxes that index them, infra.source_index); none: it reads the input whole
    input_spans: tuple[tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(gt=0)]], ...] = ()

    def segments(self) -> SegmentRange:
        return SegmentRange(
            first=self.first_segment, count=self.count, start=self.start_frame,
            end=self.end_frame, keyframe=self.keyframe, last=self.last,
        )  # fmt: skip


class ChunkPlan(_Wire):
    """What the parent's attempt decided: the chunks, and everything a chunk needs to run
    as its parent would have (the request as pinned, the preset as resolved)."""

    parent: JobId
    request: JobRequest
    preset: StreamingPreset
    source: SourceInfo
    duration: float
    chunks: tuple[ChunkRange, ...]
    # ffprobe's document of the input as the parent read it: a chunk plans from it (and the
    # stitch publishes it as probe.json) without probing the input again
    probe: ProbeDoc | None = None

    @property
    def total(self) -> int:
        return len(self.chunks)

    def chunk(self, index: int) -> ChunkRange | None:
        return self.chunks[index] if 0 <= index < len(self.chunks) else None

    def packed(self) -> bytes:
        return zlib.compress(self.model_dump_json(exclude_defaults=True).encode())

    @classmethod
    def unpacked(cls, data: bytes) -> ChunkPlan:
        return cls.model_validate_json(zlib.decompress(data))


class PieceFile(_Wire):
    """A file a chunk uploaded under its parent's output prefix, for the stitch."""

    path: str  # relative to the parent's output dir: "cmaf/seg-0-00004.m4s"
    playlist: str = ""  # its media playlist ("" for an init segment or a file of no list)
    duration: float = 0.0  # seconds, as the playlist says (0 for an init segment)
    size: int = 0


class ManifestText(_Wire):
    path: str  # relative to the parent's output dir: "cmaf/manifest.mpd"
    text: str


class ChunkEnding(_Wire):
    """A chunk done: the files it uploaded, in playlist order per playlist; a picture
    range's MPD (its timelines, for the stitch); the audio part's manifests (the whole
    package's skeleton, kept here rather than published before the commit)."""

    index: int
    files: tuple[PieceFile, ...] = ()
    mpd: str = ""
    warmup: int = 0  # segments the range encoded before its own (in its MPD, not landed)
    skeleton: tuple[ManifestText, ...] = ()

    def packed(self) -> bytes:
        return zlib.compress(self.model_dump_json(exclude_defaults=True).encode())

    @classmethod
    def unpacked(cls, data: bytes) -> ChunkEnding:
        return cls.model_validate_json(zlib.decompress(data))


class ChunkTally(_Wire):
    """The parent as a chunk's ending left it. ``stitch``: this ending completed the set
    (or is that ending again, a redelivery, while the parent is not COMPLETED): its worker
    stitches and commits the parent."""

    total: int
    ended: tuple[ChunkEnding, ...]
    stitch: bool = False

    @property
    def done(self) -> bool:
        return len(self.ended) >= self.total


class SplitRecord(_Wire):
    """The split parent's side of its record (``JobStore.get_split``)."""

    plan: ChunkPlan
    sent: bool = False  # every chunk's message went out: a redelivered parent sends none
    ended: tuple[ChunkEnding, ...] = ()
    stitch_by: int | None = None  # the chunk whose ending completed the set
    closed_by: str | None = None  # the chunk job whose ending closed the parent


class SplitClose(_Wire):
    """The parent's end, written once by the ending that closes it: COMPLETED with the
    stitched result, or FAILED with a chunk's error."""

    by: str  # the chunk job id whose ending closes it
    result: JobResult | None = None
    error: RecordedError | None = None


class JobSplit(Exception):  # not a failure: the attempt goes on as its chunks
    """Raised by a parent's attempt once its chunks are recorded and sent: the dispatcher
    acknowledges its message (the job goes on as its chunks)."""

    def __init__(self, plan: ChunkPlan) -> None:
        super().__init__(f"split into {plan.total} chunks")
        self.plan = plan


def chunk_job_id(parent: str, index: int) -> str:
    return ChunkRef(parent=parent, index=index).job_id


def is_chunk(job_id: str) -> bool:
    return job_id.startswith(CHUNK_ID_PREFIX)


def plan_chunks(
    grid: SegmentGrid, chunk_seconds: float, *, audio: bool = True
) -> tuple[ChunkRange, ...]:
    """The picture's chunks of whole segments on the whole encode's ``grid``
    (:meth:`SegmentGrid.split`), then the audio chunk when the input has sound."""
    ranges = grid.split(chunk_seconds)
    if len(ranges) > MAX_CHUNKS:
        raise ValueError(f"over {MAX_CHUNKS} chunks: give a longer chunk length")
    chunks = [_range(i, grid, r) for i, r in enumerate(ranges)]
    if not audio:
        return tuple(chunks)
    end = grid.seconds(grid.frames)
    return (*chunks, ChunkRange(index=len(chunks), kind=AUDIO, start=0.0, end=end))


def _range(index: int, grid: SegmentGrid, r: SegmentRange) -> ChunkRange:
    return ChunkRange(
        index=index, start=grid.seconds(r.start), end=grid.seconds(r.end),
        first_segment=r.first, count=r.count, start_frame=r.start, end_frame=r.end,
        keyframe=r.keyframe, last=r.last,
    )  # fmt: skip
