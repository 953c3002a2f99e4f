"""A steps job's subtitle tracks: converted before the pass, added to each package after it.

Each ``subtitles`` step's source (its fetched file, or a text subtitle stream of the input)
is converted by ffmpeg under the subtitle guard into ``subs/step-N.vtt`` (a sidecar) or
``subs/step-N.ass`` (a burn, rewritten to the sections libass may draw from) before the
main pass runs, so a hostile file is refused before any encode. Once a package is finished
and has passed its QC, every sidecar track is cut to its segments (the first rendition's
boundaries, timed from the media's first presentation time), and its playlist, segments
and whole ``.vtt`` are written under ``subtitles/`` beside the manifests, which name them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from core.attempt.upload import Upload
from core.errors import FfapiError, InvalidMedia, TranscodeFailed
from core.media.hardening import InputGuard, ResourceLimits
from core.media.probe import ProbeResult
from core.ports import JobDir, LocalFiles, MediaTool
from core.steps.chain_pass import refuse
from core.steps.model import Subtitles, Trim
from core.steps.stage import Attached
from core.streaming.package_media import MEDIA_PLAYLISTS, SEGMENTS
from core.streaming.packaging import Package
from core.streaming.playlists import read_media, resolve
from core.streaming.qc import Packet
from core.text.subtitle_files import (
    SUBS_DIR,
    TEXT_STREAM_CODECS,
    convert_argv,
    converted_name,
    plain_webvtt,
    safe_ass,
    subtitle_guard,
)
from core.text.subtitle_manifests import (
    InBandCaption,
    SidecarTrack,
    master_with_captions,
    master_with_subtitles,
    mpd_with_captions,
    mpd_with_subtitles,
)
from core.text.subtitles import (
    MPEGTS_HZ,
    Cue,
    clipped,
    parse_vtt,
    segment_cues,
    shifted,
    subtitle_playlist,
    vtt_document,
)

TRACKS_DIR = "subtitles"  # beside the package's manifests


@dataclass(frozen=True, slots=True)
class Sidecar:
    index: int  # the step's
    language: str
    cues: tuple[Cue, ...]


@dataclass(frozen=True, slots=True)
class TextTracks:
    """A job's text tracks for its packages: the sidecars converted before the pass, and
    the steps that ask for the video's own captions (read from each package after it)."""

    sidecars: tuple[Sidecar, ...] = ()
    captions: tuple[tuple[int, Subtitles], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sidecars or self.captions)

    @property
    def first(self) -> int:
        """The first of their steps, for a refusal."""
        return min([s.index for s in self.sidecars] + [i for i, _ in self.captions])


@dataclass(frozen=True, slots=True)
class SubtitleSources:
    """What the conversions read: the input (for ``stream``) and the fetched objects."""

    probe: ProbeResult
    source: PurePosixPath
    attached: Mapping[str, Attached]
    guard: InputGuard


@dataclass(frozen=True, slots=True)
class TextTools:
    """What the text-track passes beside the main one run with: the tools, the job's files,
    and each ffmpeg run's time and resource bounds (the CPU tier's)."""

    media: MediaTool
    files: LocalFiles
    timeout: float
    limits: ResourceLimits


class SubtitleConverter:
    def __init__(self, tools: TextTools) -> None:
        self._media = tools.media
        self._files = tools.files
        self._timeout = tools.timeout
        self._limits = tools.limits

    async def prepare(
        self, steps: Sequence[object], sources: SubtitleSources, root: Path
    ) -> tuple[Sidecar, ...]:
        """Convert every subtitles step's source; the sidecar tracks' cues, in step order."""
        # the video's own captions are read from the package, after the pass (core.text.captions)
        wanted = [
            (i, s) for i, s in enumerate(steps) if isinstance(s, Subtitles) and s.captions is None
        ]
        if wanted:
            await self._files.make_dirs(root, (SUBS_DIR,))
        sidecars: list[Sidecar] = []
        for i, step in wanted:
            where = f"steps[{i}].{'source' if step.source is not None else 'stream'}"
            try:
                text = await self._convert(i, step, sources, root)
                if step.mode == "burn":
                    await self._files.write_text(root / converted_name(i, "burn"), safe_ass(text))
                else:
                    cues = shifted(_cues(text), _trimmed(steps))
                    sidecars.append(Sidecar(i, step.language, cues))
            except FfapiError as exc:
                raise exc.at(where) from None
        return tuple(sidecars)

    async def _convert(self, i: int, step: Subtitles, sources: SubtitleSources, root: Path) -> str:
        dest = converted_name(i, step.mode)
        if step.source is not None:
            attached = sources.attached[f"steps[{i}].source"]
            guard = subtitle_guard(sources.guard)
            demuxer = guard.demuxer(attached.probe.format_name)
            path = attached.path
            if demuxer == "webvtt":  # its blocks that are no cues, left out first
                path = PurePosixPath(f"{SUBS_DIR}/step-{i}.source.vtt")
                plain = plain_webvtt(await self._text(Path(attached.path)))
                await self._files.write_text(root / path, plain)
            argv = convert_argv(guard.flags(demuxer), path, 0, dest, step.mode)
        else:
            stream = _input_stream(i, step, sources.probe)
            flags = sources.guard.flags(sources.guard.demuxer(sources.probe.format_name))
            argv = convert_argv(flags, sources.source, stream, dest, step.mode)
        try:
            await self._media.transcode(argv, root, self._timeout, None, self._limits)
        except TranscodeFailed:
            # the sender's file is all this run reads: its failure is the file's (an event
            # over ffmpeg's ASS buffer, a broken encoding), and no retry reads it better
            raise InvalidMedia("could not be read as subtitles") from None
        return await self._text(root / dest)

    async def _text(self, path: Path) -> str:
        try:
            return await self._files.read_text(path)
        except UnicodeDecodeError:
            raise InvalidMedia("is not UTF-8 text") from None


def _trimmed(steps: Sequence[object]) -> float:
    """How much of the input's start the trims cut (each trim's start is on the timeline
    the trims before it left)."""
    return sum(s.start for s in steps if isinstance(s, Trim))


def _cues(text: str) -> tuple[Cue, ...]:
    cues = parse_vtt(text)
    if not cues:  # a track with nothing to show is a broken file, not a silent success
        raise InvalidMedia("has no cues")
    return cues


def _input_stream(i: int, step: Subtitles, probe: ProbeResult) -> int:
    subs = [s for s in probe.streams if s.kind == "subtitle"]
    n = step.stream or 0
    if n >= len(subs):
        refuse(f"steps[{i}].stream: the input has {len(subs)} subtitle streams")
    if subs[n].codec not in TEXT_STREAM_CODECS:
        refuse(f"steps[{i}].stream: subtitle stream {n} is not text ({subs[n].codec})")
    return n


class SidecarPackager:
    """Adds the sidecar tracks to a finished package (in its own output directory)."""

    def __init__(self, media: MediaTool, files: LocalFiles) -> None:
        self._media = media
        self._files = files

    async def add(
        self,
        package: Package,
        jobdir: JobDir,
        tracks: Sequence[Sidecar],
        declared: Sequence[InBandCaption] = (),
    ) -> Package:
        """The tracks, and the captions the video carries (``declared``), in the package."""
        uploads = await self._tracks(package, jobdir, tracks) if tracks else []
        if declared:
            await self._declare_captions(package, jobdir.out, declared)
        package.files = uploads + package.files  # the manifests' tier still comes last
        package.sizes = await self._files.sizes(jobdir.out)
        return package

    async def _tracks(
        self, package: Package, jobdir: JobDir, tracks: Sequence[Sidecar]
    ) -> list[Upload]:
        out, plan = jobdir.out, package.plan
        first = package.renditions[0]
        timeline = read_media(first.playlist, await self._files.read_text(out / first.playlist))
        durations = [d for _, d in timeline.segments]
        mpegts = await self._first_pts(package, jobdir, first.playlist, first.kind)
        folder = posixpath.join(posixpath.dirname(plan.master), TRACKS_DIR)
        await self._files.make_dirs(out, (folder,))
        uploads: list[Upload] = []
        for track in tracks:
            cues = clipped(track.cues, sum(durations))
            segments = segment_cues(cues, durations, track.language)
            for seg in segments:
                await self._write(
                    out, posixpath.join(folder, seg.name), vtt_document(seg.cues, mpegts)
                )
                uploads.append(Upload(posixpath.join(folder, seg.name), SEGMENTS))
            whole = posixpath.join(folder, f"{track.language}.vtt")
            listing = posixpath.join(folder, f"{track.language}.m3u8")
            await self._write(out, whole, vtt_document(cues))
            await self._write(out, listing, subtitle_playlist(segments))
            uploads += [Upload(whole, SEGMENTS), Upload(listing, MEDIA_PLAYLISTS)]
        await self._manifests(package, out, folder, tracks)
        return uploads

    async def _manifests(
        self, package: Package, out: Path, folder: str, tracks: Sequence[Sidecar]
    ) -> None:
        plan = package.plan
        named = [
            SidecarTrack(
                t.language,
                _relative(posixpath.join(folder, f"{t.language}.m3u8"), plan.master),
                _relative(posixpath.join(folder, f"{t.language}.vtt"), plan.mpd or plan.master),
            )
            for t in tracks
        ]
        master = await self._files.read_text(out / plan.master)
        await self._write(out, plan.master, master_with_subtitles(master, named))
        if plan.mpd:
            mpd = await self._files.read_text(out / plan.mpd)
            await self._write(out, plan.mpd, mpd_with_subtitles(mpd, named))

    async def _declare_captions(
        self, package: Package, out: Path, captions: Sequence[InBandCaption]
    ) -> None:
        plan = package.plan
        master = await self._files.read_text(out / plan.master)
        await self._write(out, plan.master, master_with_captions(master, captions))
        if plan.mpd:
            mpd = await self._files.read_text(out / plan.mpd)
            await self._write(out, plan.mpd, mpd_with_captions(mpd, captions))

    async def _first_pts(self, package: Package, jobdir: JobDir, playlist: str, kind: str) -> int:
        """The media's first presentation time, in 90 kHz ticks: where a player's timeline
        (and so a cue at 0) begins. Read from the first segment's packets."""
        parsed = read_media(playlist, await self._files.read_text(jobdir.out / playlist))
        first = [resolve(playlist, parsed.segments[0][0])]
        init = [resolve(playlist, parsed.init)] if parsed.init else []
        cmaf = package.plan.kind == "cmaf"
        starts: list[float] = []

        def take(packet: Packet) -> None:
            starts.append(packet.pts)

        stream: Literal["v", "a"] = "v" if kind == "video" else "a"
        parts = [jobdir.out / f for f in (*init, *first)]  # two parts, side by side
        await self._media.packets(parts, ("mov",) if cmaf else ("mpegts",), stream, take)
        return round(min(starts, default=0.0) * MPEGTS_HZ)

    async def _write(self, out: Path, path: str, text: str) -> None:
        await self._files.write_text(out / path, text)


def _relative(path: str, manifest: str) -> str:
    return posixpath.relpath(path, posixpath.dirname(manifest) or ".")
