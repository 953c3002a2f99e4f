"""The media side of a chunk sub-job (:class:`core.attempt.chunk_run.ChunkMedia`), on the
range encodes of :mod:`core.streaming.ranges`.

- **A picture range**: its video rungs encoded on the whole encode's grid
  (:func:`plan_range`), each media segment retimed and renamed to its place in the whole
  package (:func:`core.streaming.stitch.landed_files`, :func:`retime`); the first range keeps
  its init segments (the others' are thrown away). Its MPD goes into the ending: the stitch
  reads the range's timelines from it.
- **The audio**: encoded whole by :func:`plan_audio_part` (the whole plan's muxer, a black
  stand-in picture): its audio segments and init segments are the package's; its manifests,
  the whole package's skeleton, go into the ending (never published before the commit); its
  stand-in video is scratch.
- **The stitch**, by the worker whose ending completed the set: every chunk's files are
  fetched from the bucket into one local package with the skeleton, the video timelines
  rebuilt (:func:`core.streaming.range_landing.stitch_package`), then the whole encode's own
  ``finish`` and QC run on it (:meth:`StreamingPackager.finish`): the package is judged as an
  unsplit one is. Its manifests, init segments and ``probe.json`` are then published.
  The pictures are the whole encode's too: each range made its share
  (:mod:`core.attempt.chunk_pictures`), the stitch fetches them, ``finish`` lays the tiles
  out into the storyboard's sheets, writes its WebVTT and counts them all in the QC; the
  tiles are then withdrawn from the bucket.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import structlog

from core.attempt import chunk_pictures
from core.attempt.chunk_run import Sourced, Stitched
from core.attempt.limits import PipelineLimits
from core.attempt.phases import PhaseTimer
from core.attempt.pipeline import Report
from core.attempt.upload import Upload, is_media_segment
from core.errors import QcFailed
from core.jobs.chunk_model import ChunkEnding, ChunkPlan, ChunkRange, ManifestText, PieceFile
from core.jobs.results import OutputFile, output_key
from core.media.probe import parse_probe, public_probe
from core.models import S3ObjectRef
from core.ports import JobDir, LocalFiles, MediaTool, ObjectStore, SourceCopies, SpanReads
from core.streaming.fragment_time import retime
from core.streaming.package_result import package_produced
from core.streaming.packaging import StreamingPackager
from core.streaming.range_landing import stitch_package
from core.streaming.ranges import plan_audio_part, plan_range
from core.streaming.renditions import StreamingPlan, plan_streaming
from core.streaming.stitch import RangeListing, landed_files

log = structlog.get_logger("ffapi.chunks")

_MANIFESTS = (".m3u8", ".mpd")
_FETCHES_AT_ONCE = 16


class RangeChunkMedia:
    """``copies``: the inputs kept on this worker (its parent's download, an earlier
    chunk's): a chunk links one rather than downloading the whole input again. ``spans``:
    where a chunk without a copy downloads only the bytes its plan names."""

    def __init__(
        self, objects: ObjectStore, media: MediaTool, files: LocalFiles, limits: PipelineLimits,
        clock: Callable[[], float], copies: SourceCopies | None = None,
        spans: SpanReads | None = None,
    ) -> None:  # fmt: skip
        self._copies = copies
        self._spans = spans
        self._objects = objects
        self._media = media
        self._files = files
        self._limits = limits
        self._clock = clock  # monotonic seconds, for the progress throttle

    async def source(
        self, plan: ChunkPlan, jobdir: JobDir, piece: ChunkRange | None = None
    ) -> Sourced:
        """The parent's input in ``jobdir`` as ``piece`` reads it (a kept copy; else only
        the bytes its plan names; else downloaded whole and kept), and its probe (the
        parent's, else probed here: a plan recorded before it carried one). The stitch
        (no ``piece``) reads no input: the parent's probe is all it needs."""
        if piece is None and plan.probe is not None:
            return Sourced(parse_probe(plan.probe), plan.probe)
        await self._fetch_input(plan, jobdir, piece)
        doc = plan.probe or await self._media.probe(jobdir.source, self._limits.media.guard)
        return Sourced(parse_probe(doc), doc)

    async def _fetch_input(self, plan: ChunkPlan, jobdir: JobDir, piece: ChunkRange | None) -> None:
        ref, copies = plan.request.input, self._copies
        if copies is not None and await copies.link(ref, jobdir.source):
            return
        if piece is not None and piece.input_spans and self._spans and ref.size is not None:
            await self._spans.download_spans(ref, piece.input_spans, jobdir.source)
            log.info("source.spans", bytes=sum(b - a for a, b in piece.input_spans),
                     of=ref.size)  # fmt: skip
            return  # a part of the input: never kept for another chunk
        await self._objects.download(ref, jobdir.source)
        if copies is not None:
            await copies.keep(ref, jobdir.source)

    async def encode(
        self, plan: ChunkPlan, piece: ChunkRange, source: Sourced, jobdir: JobDir,
        report: Report | None,
    ) -> ChunkEnding:  # fmt: skip
        if piece.kind == "audio":
            return await self._audio(plan, piece, source, jobdir, report)
        return await self._range(plan, piece, source, jobdir, report)

    async def _range(
        self, plan: ChunkPlan, piece: ChunkRange, source: Sourced, jobdir: JobDir,
        report: Report | None,
    ) -> ChunkEnding:  # fmt: skip
        scratch = jobdir.root / "range"
        ranged = plan_range(
            plan.preset, source.probe, PurePosixPath(jobdir.source), PurePosixPath(scratch),
            piece.segments(), guard=self._limits.media.guard, pictures=True,
        )  # fmt: skip
        if ranged is None:
            raise QcFailed("this package cannot be made in ranges")
        await self._run(ranged.plan, scratch, jobdir, piece.end - piece.start, report)
        made = scratch / ranged.plan.package_dir
        mpd = await self._files.read_text(made / "manifest.mpd")
        listing = RangeListing(piece.segments(), mpd, ranged.warmup)
        package = ranged.plan.package_dir
        await self._files.make_dirs(jobdir.out, (package,))
        files = await chunk_pictures.range_pictures(self._files, ranged.plan, scratch, jobdir.out)
        for rep in _video_reps(ranged.plan):
            for landed in landed_files(listing, rep):
                data = retime(await self._files.read_bytes(made / landed.local), landed.ticks,
                              landed.number)  # fmt: skip
                files.append(await self._put(jobdir, f"{package}/{landed.final}", data, rep))
            if piece.first_segment == 0:  # the whole encode's init segments are range 0's
                init = await self._files.read_bytes(made / f"init-{rep}.m4s")
                files.append(await self._put(jobdir, f"{package}/init-{rep}.m4s", init, rep))
        return ChunkEnding(index=piece.index, files=tuple(files), mpd=mpd, warmup=ranged.warmup)

    async def _audio(
        self, plan: ChunkPlan, piece: ChunkRange, source: Sourced, jobdir: JobDir,
        report: Report | None,
    ) -> ChunkEnding:  # fmt: skip
        audio = plan_audio_part(
            plan.preset, source.probe, PurePosixPath(jobdir.source), PurePosixPath(jobdir.out),
            self._limits.media.guard,
        )  # fmt: skip
        if audio is None:
            raise QcFailed("this package cannot be made in ranges")
        await self._run(audio, jobdir.out, jobdir, piece.end - piece.start, report)
        scratch = {f"init-{r}.m4s" for r in _video_reps(audio)}
        stand_in = tuple(f"seg-{r}-" for r in _video_reps(audio))
        files, skeleton = [], []
        for path, size in sorted((await self._files.sizes(jobdir.out)).items()):
            name = posixpath.basename(path)
            if path.endswith(_MANIFESTS):
                skeleton.append(
                    ManifestText(path=path, text=await self._files.read_text(jobdir.out / path))
                )
            elif name not in scratch and not name.startswith(stand_in):
                files.append(PieceFile(path=path, size=size))
            else:
                await self._files.remove(jobdir.out / path)  # the stand-in's: never published
        return ChunkEnding(index=piece.index, files=tuple(files), skeleton=tuple(skeleton))

    async def _run(
        self, plan: StreamingPlan, out: Path, jobdir: JobDir, seconds: float,
        report: Report | None,
    ) -> None:  # fmt: skip
        await self._files.make_dirs(out, plan.directories)
        limits = plan.limits(self._limits.resources.for_tier(plan.tier))
        progress = self._limits.progress(seconds, report, self._clock)
        await self._media.transcode(plan.argv, jobdir.root, self._limits.transcode_timeout,
                                    progress, limits)  # fmt: skip

    async def _put(self, jobdir: JobDir, path: str, data: bytes, rep: str) -> PieceFile:
        await self._files.write_bytes(jobdir.out / path, data)
        playlist = f"{posixpath.dirname(path)}/media_{rep}.m3u8"
        return PieceFile(path=path, playlist=playlist, size=len(data))

    async def stitch(
        self, plan: ChunkPlan, ended: Sequence[ChunkEnding], source: Sourced, jobdir: JobDir
    ) -> Stitched:
        out_loc = plan.request.output
        assert out_loc is not None
        root = jobdir.root / "whole"
        out = root / "out"
        whole = plan_streaming(
            plan.preset, source.probe, PurePosixPath(jobdir.source),
            PurePosixPath(out), guard=self._limits.media.guard,
        )  # fmt: skip
        await self._files.make_dirs(out, whole.directories)
        await self._fetch(plan, ended, out)
        listings = [
            RangeListing(c.segments(), e.mpd, e.warmup)
            for c, e in zip(plan.chunks, ended, strict=True)
            if c.kind == "video"
        ]
        await stitch_package(self._files, out / whole.package_dir, listings, _video_reps(whole))
        package = await StreamingPackager(self._media, self._files).finish(
            whole, source.probe, JobDir(root=root, source=jobdir.source, out=out),
            self._limits.transcode_timeout, PhaseTimer(),
        )  # fmt: skip
        up = chunk_pictures.uploaded(ended)
        uploads = [u for u in package.files if not is_media_segment(u.path) and u.path not in up]
        produced = package_produced(package, out_loc, plan.parent)
        if source.doc is not None:
            body = json.dumps(public_probe(source.doc), indent=2, sort_keys=True)
            await self._files.write_text(out / "probe.json", body)
            uploads.append(Upload("probe.json", max((u.tier for u in uploads), default=0)))
            key = output_key(out_loc, plan.parent, "probe.json")
            produced.outputs.append(OutputFile(key=key, role="probe", size=len(body.encode()),
                                               content_type="application/json"))  # fmt: skip
        return Stitched(out, tuple(uploads), produced, tuple(chunk_pictures.tiles(ended)))

    async def _fetch(self, plan: ChunkPlan, ended: Sequence[ChunkEnding], out: Path) -> None:
        """Every chunk's files from the bucket, and the skeleton's manifests, into ``out``."""
        out_loc = plan.request.output
        assert out_loc is not None
        paths = [
            p for e in ended for p in (*(t.path for t in e.skeleton), *(f.path for f in e.files))
        ]
        await self._files.make_dirs(out, sorted({posixpath.dirname(p) for p in paths} - {""}))
        for ending in ended:
            for text in ending.skeleton:
                await self._files.write_text(out / text.path, text.text)
        gate = asyncio.Semaphore(_FETCHES_AT_ONCE)

        async def fetch(path: str) -> None:
            ref = S3ObjectRef(bucket=out_loc.bucket, key=output_key(out_loc, plan.parent, path))
            async with gate:
                await self._objects.download(ref, out / path)

        await asyncio.gather(*(fetch(f.path) for e in ended for f in e.files))


def _video_reps(plan: StreamingPlan) -> list[str]:
    return [str(i) for i in range(len(plan.video))]
