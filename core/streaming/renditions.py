"""Planning an adaptive-streaming job: (streaming preset, probe) -> one ffmpeg argv.

One process, one decode: the source picture is conditioned once (tone-mapped or reduced to
8 bits, frame rate capped to a constant rate), then ``split`` feeds every rung, the
thumbnails, the poster and the storyboard. Every rung gets a fixed GOP of one segment with
keyframes forced at segment boundaries, so rungs switch cleanly at every segment. The
manifests come from ffmpeg's own muxers: ``dash`` with ``-hls_playlist 1`` writes one set of
CMAF segments behind both ``manifest.mpd`` and ``master.m3u8``; ``hls`` writes MPEG-TS.
The same plan runs on every accelerator tier (:mod:`core.media.frames` moves and scales the frames,
:mod:`core.media.encoders` picks the encoders); the ladder, GOP and segment times do not change.
The picture is trimmed before the ``split`` where the video says it ends (else at
:func:`core.media.plan.encode_cap`), the sound padded or cut to it; the audio set's own
``seg_duration`` is twice the video's, so the muxer cuts the audio only where it cuts the video.
Every number in the graph comes from the preset or the probe; no message text reaches it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

from core.errors import UnsupportedMedia
from core.media.accel import CPU_ONLY, AccelTier, TierChoice
from core.media.encoders import encoder_reserve_mib, ladder_args, rung_rate_args, video_encoder
from core.media.frames import TONEMAP, FramePath, deinterlace
from core.media.hardening import SOURCE_GUARD, InputGuard, ResourceLimits
from core.media.plan import GLOBAL_FLAGS, LOGGED_FLAGS, encode_cap
from core.media.probe import AudioStream, ProbeResult, VideoStream
from core.presets import StreamingPreset
from core.streaming.audio_tracks import (
    PlannedAudio,
    audio_args,
    kept_tracks,
    plan_audio,
    several_tracks,
    ts_alternatives,
)
from core.streaming.cmaf_muxer import cmaf_muxer
from core.streaming.ladder import FittedLadder, FittedRung, fit_fps, fit_ladder
from core.streaming.pictures import (
    THUMBNAILS_DIR,
    TILES_DIR,
    StoryboardPlan,
    ThumbnailPlan,
    image_branches,
    image_outputs,
    image_plans,
)
from core.streaming.span import VideoSpan
from core.streaming.span import conditioned_rate as _rate


@dataclass(frozen=True, slots=True)
class StreamingPlan:
    argv: tuple[str, ...]
    kind: str  # "cmaf" | "hls-ts"
    package_dir: str  # "cmaf" or "hls", under the job's output directory
    master: str  # relative paths from the job's output directory
    mpd: str | None
    video: tuple[FittedRung, ...]  # the fitted ladder's rungs, in stream order
    audio: tuple[PlannedAudio, ...]  # in stream order, after the video rungs
    ladder: FittedLadder | None
    fps: float
    segment_seconds: float
    encoder: str  # the video encoder (or "aac" for audio only)
    tier: AccelTier
    thumbnails: ThumbnailPlan | None
    storyboard: StoryboardPlan | None
    notes: tuple[str, ...]  # conversions a reader of job.json should know about
    # address space the rungs' encoders reserve beyond ffmpeg's own limit (SVT-AV1's)
    encoder_reserve_mib: int = 0

    @property
    def muxed_audio(self) -> bool:
        """hls-ts of one track: every variant carries its copy of the audio."""
        return (
            self.kind == "hls-ts"
            and bool(self.video)
            and bool(self.audio)
            and (not several_tracks(self.audio))
        )

    def limits(self, base: ResourceLimits) -> ResourceLimits:
        """The run's kernel limits: the deployment's, with room for this ladder's encoders."""
        return base.widened(self.encoder_reserve_mib * 1024**2)

    @property
    def directories(self) -> tuple[str, ...]:
        images = (THUMBNAILS_DIR,) if self.thumbnails or self.storyboard else ()
        tiles = (TILES_DIR,) if self.storyboard else ()
        return (self.package_dir, *images, *tiles)


@dataclass(slots=True)
class _Argv:
    """The parts of the argv that each stream kind adds to."""

    graph: list[str] = field(default_factory=list)
    maps: list[str] = field(default_factory=list)
    codecs: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Picture:
    ladder: FittedLadder
    fps: float
    thumbnails: ThumbnailPlan | None
    storyboard: StoryboardPlan | None
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LadderSource:
    """Where a ladder takes its picture and sound in the filter graph (None: none), and the
    prefix of every label it makes (several encodes in one graph). ``tracks``: the input's
    audio tracks the ladder keeps, each mapped from the input itself or, with ``labels``,
    from those graph labels (a steps pass's tracks); empty, ``audio`` is the one sound."""

    video: str | None
    audio: str | None
    tag: str = ""
    # each track's normalizer (by track number), once before its renditions' split
    loudness: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    tracks: tuple[AudioStream, ...] = ()
    labels: tuple[str, ...] = ()  # each track's, beside ``tracks``


def plan_streaming(
    preset: StreamingPreset,
    probe: ProbeResult,
    source: PurePosixPath,
    out: PurePosixPath,
    choice: TierChoice = CPU_ONLY,
    guard: InputGuard = SOURCE_GUARD,
    loudness: Mapping[int, tuple[str, ...]] | None = None,
    span: VideoSpan | None = None,
) -> StreamingPlan:
    """``guard``: the hardened input flags, with the demuxer ffprobe found. ``loudness``:
    each kept track's normalizer, by track number (:func:`core.steps.loudness.normalize`); their
    figures are in the log. ``span``: a time range of the video rungs alone
    (:mod:`core.streaming.ranges`)."""
    video = probe.video if preset.ladder else None
    if video is None:
        choice = CPU_ONLY  # audio alone: nothing for a GPU to do
    # tone mapping and deinterlacing run on the CPU
    cpu_filters = video is not None and (_tonemaps(preset, video) or video.interlaced)
    frames = FramePath.plan(choice, video, _pix_fmt(preset), cpu_filters) if video else None
    tracks = kept_tracks(preset, probe)
    labels = LadderSource(
        f"[0:{video.index}]" if video else None,
        f"[0:{tracks[0].index}]" if tracks else None,
        loudness=loudness or {},
        tracks=tracks,
    )
    graph, args, plan = ladder_encode(preset, probe, out, frames, labels, span)
    logged = loudness and any(loudness.values())
    flags = LOGGED_FLAGS if logged else GLOBAL_FLAGS  # the normalizers' figures: the log
    argv = [
        "ffmpeg", *flags, *guard.flags(guard.demuxer(probe.format_name)),
        *(frames.input_args if frames else ()), *(span.input_args if span else ()),
        "-i", f"file:{source}",
        "-filter_complex", ";".join(graph), *args,
    ]  # fmt: skip
    return replace(plan, argv=tuple(argv))


def ladder_encode(
    preset: StreamingPreset,
    probe: ProbeResult,
    out: PurePosixPath,
    frames: FramePath | None,
    source: LadderSource,
    span: VideoSpan | None = None,
) -> tuple[tuple[str, ...], tuple[str, ...], StreamingPlan]:
    """The ladder, its pictures and its audio from ``source``: the filter statements, the
    output arguments (files under ``out``), and the plan (its ``argv`` empty: the
    caller's). No picture where ``frames`` or the source's picture is None."""
    video = probe.video if preset.ladder and source.video and frames else None
    # a range: video alone
    audio = () if span and not span.sound else _audio_plan(preset, probe, source)
    if video is None and not audio:
        raise UnsupportedMedia(f"preset {preset.name} needs a stream the input does not have")
    parts = _Argv()
    picture = None
    if video and frames:
        picture = _add_picture(parts, preset, video, probe, out, frames, source, span)
    n_video = len(picture.ladder.rungs) if picture else 0
    if audio:
        ends = _audio_end(video.duration if video else 0.0, encode_cap(probe))
        # hls-ts muxes one copy of one track's audio into every variant; CMAF (and hls-ts of
        # several tracks) has one stream per rendition
        muxed = preset.kind == "hls-ts" and n_video and not several_tracks(audio)
        _add_audio(parts, source, (audio[0],) * n_video if muxed else audio, ends)
        audio = audio[:1] if muxed else audio
    package = "cmaf" if preset.kind == "cmaf" else "hls"
    make_muxer = cmaf_muxer if package == "cmaf" else _ts_muxer
    muxer = make_muxer(preset, out, n_video, audio)
    muxer = span.muxed(muxer) if span else muxer
    args = [*parts.maps, *parts.codecs, "-map_metadata", "-1", "-map_chapters", "-1", *muxer,
            *parts.images]  # fmt: skip
    tier = frames.tier if picture and frames else AccelTier.CPU
    return tuple(parts.graph), tuple(args), _plan(preset, package, picture, audio, tier)


def _plan(
    preset: StreamingPreset,
    package: str,
    picture: _Picture | None,
    audio: tuple[PlannedAudio, ...],
    tier: AccelTier,
) -> StreamingPlan:
    encoder = video_encoder(preset.video_codec, tier) if picture else "aac"
    rungs = picture.ladder.rungs if picture else ()
    return StreamingPlan(
        argv=(), kind=preset.kind, package_dir=package,
        master=f"{package}/master.m3u8",
        mpd=f"{package}/manifest.mpd" if package == "cmaf" else None,
        video=rungs, audio=audio, ladder=picture.ladder if picture else None,
        fps=picture.fps if picture else 0.0, segment_seconds=preset.segment_seconds,
        encoder=encoder, tier=tier,
        thumbnails=picture.thumbnails if picture else None,
        storyboard=picture.storyboard if picture else None,
        notes=picture.notes if picture else (),
        encoder_reserve_mib=sum(encoder_reserve_mib(encoder, r.width, r.height) for r in rungs),
    )  # fmt: skip


def _add_picture(
    parts: _Argv,
    preset: StreamingPreset,
    video: VideoStream,
    probe: ProbeResult,
    out: PurePosixPath,
    frames: FramePath,
    source: LadderSource,
    span: VideoSpan | None = None,
) -> _Picture:
    """One conditioning chain, ``split`` to every rung and picture output."""
    ladder = fit_ladder(preset.ladder, *video.display_size)
    fps = fit_fps(video.fps, preset.max_fps)
    thumbs, board = image_plans(preset, ladder, fps)
    # trimmed before the split, so that every branch (rungs, thumbnails, board) stops there
    chain, notes = _condition(preset, video, fps, frames, _picture_end(video, probe))
    chain += span.trim if span else ""
    tag = source.tag
    share = span.pictures if span else None  # a range's pictures
    images = image_branches(thumbs, board, video, probe, frames.to_cpu, tag, share)
    branches = [f"[{tag}r{i}]" for i in range(len(ladder.rungs))] + [label for label, _ in images]
    parts.graph.append(f"{source.video}{chain},split={len(branches)}{''.join(branches)}")
    encoder = video_encoder(preset.video_codec, frames.tier)
    for i, rung in enumerate(ladder.rungs):
        size = span.size(rung.width, rung.height) if span else (rung.width, rung.height)
        scaled = frames.scale(*size, _pix_fmt(preset))
        parts.graph.append(f"[{tag}r{i}]{scaled}[{tag}v{i}]")
        parts.maps += ["-map", f"[{tag}v{i}]"]
        parts.codecs += rung_rate_args(
            i, encoder, rung.video_kbps, rung.maxrate_kbps, rung.bufsize_kbps
        )
    parts.graph += [body for _, body in images]
    shared = ladder_args(preset, frames.tier, fps, video)
    parts.codecs += span.keyframed(shared) if span else shared
    parts.images += image_outputs(out, thumbs, board, tag, share)
    return _Picture(ladder, fps, thumbs, board, notes)


def _add_audio(
    parts: _Argv, source: LadderSource, outs: tuple[PlannedAudio, ...], ends: str
) -> None:
    if source.tracks:
        labels = source.labels or tuple(f"[0:{t.index}]" for t in source.tracks)
        sources = {t.track: label for t, label in zip(source.tracks, labels, strict=True)}
    else:
        sources = {outs[0].track: str(source.audio)}
    added = audio_args(sources, outs, ends, source.tag, source.loudness)
    parts.graph += added.graph
    parts.maps += added.maps
    parts.codecs += added.codecs


def _audio_plan(
    preset: StreamingPreset, probe: ProbeResult, source: LadderSource
) -> tuple[PlannedAudio, ...]:
    """The audio renditions: of every track ``source`` keeps, or of its one sound."""
    if source.audio is None or probe.audio is None:
        return ()
    return plan_audio(preset.audio, source.tracks or (probe.audio,))


def _pix_fmt(preset: StreamingPreset) -> str:
    return "yuv420p10le" if preset.hdr == "keep" else "yuv420p"


def _tonemaps(preset: StreamingPreset, video: VideoStream | None) -> bool:
    return video is not None and video.hdr and preset.hdr != "keep"


def _condition(
    preset: StreamingPreset, video: VideoStream, fps: float, frames: FramePath, end: float
) -> tuple[str, tuple[str, ...]]:
    """The filters every rung shares, run once: fields to frames, dynamic range, bit depth,
    and a constant frame rate (so keyframe times match across rungs)."""
    notes: list[str] = []
    cpu_filters = deinterlace(video)
    if cpu_filters:
        notes.append(f"interlaced ({video.field_order or 'DV'}) deinterlaced")
    if _tonemaps(preset, video):
        cpu_filters.append(TONEMAP)
        notes.append(f"HDR ({video.color_transfer}) tone-mapped to 8-bit SDR BT.709")
    elif preset.hdr != "keep" and video.high_bit_depth:
        notes.append(f"{video.pix_fmt} reduced to 8-bit yuv420p")
    if video.fps > fps + 1e-6:
        notes.append(f"frame rate {video.fps:g} capped to {fps:g}")
    return frames.condition(cpu_filters, _pix_fmt(preset), _rate(fps), end), tuple(notes)


def _picture_end(video: VideoStream, probe: ProbeResult) -> float:
    """Where the picture stops: where the video says it ends (the audio is cut there too, so
    frames past it would only fail the drift check), else at the encode's cap."""
    cap = encode_cap(probe)
    if video.duration <= 0:
        return cap
    end = math.ceil((video.start + video.duration) * 1000) / 1000  # never a frame early
    return min(end, cap) if cap else end


def _audio_end(picture: float, cap: float) -> str:
    """Audio padded with silence or cut to the picture's length, so that players see no
    drift between the two (a source's audio often runs a little longer or shorter); alone,
    cut at the encode's cap (``aresample`` fills a gap in damaged timestamps with silence)."""
    if picture > 0:
        return f",apad=whole_dur={picture:.3f},atrim=end={picture:.3f}"
    return f",atrim=end={cap:.3f}" if cap > 0 else ""


def _ts_muxer(
    preset: StreamingPreset, out: PurePosixPath, n_video: int, audio: tuple[PlannedAudio, ...]
) -> list[str]:
    if n_video and several_tracks(audio):
        variants = ts_alternatives(audio, n_video)
    elif n_video:
        variants = [f"v:{i},a:{i},name:{i}" if audio else f"v:{i},name:{i}" for i in range(n_video)]
    else:
        variants = ["a:0,name:0"]
    return [
        "-f",
        "hls",
        "-hls_time",
        f"{preset.segment_seconds:g}",
        # EVENT: playlists rewritten per segment (VOD: at the end), for the segment watch;
        # finish_media makes them VOD. temp_file: a name the watch sees is a whole file.
        "-hls_playlist_type",
        "event",
        "-hls_flags",
        "independent_segments+temp_file",
        "-hls_segment_type",
        "mpegts",
        "-master_pl_name",
        "master.m3u8",
        "-var_stream_map",
        " ".join(variants),
        "-hls_segment_filename",
        f"file:{out / 'hls' / 'seg-%v-%05d.ts'}",
        f"file:{out / 'hls' / 'media_%v.m3u8'}",
    ]
