"""Planning an adaptive-streaming job: (streaming preset, probe) -> one ffmpeg argv.

One process, one decode: the source picture is conditioned once (tone-mapped or reduced to
8 bits, frame rate capped to a constant rate), then ``split`` feeds every rung, the
thumbnails, the poster and the storyboard. Every rung gets a fixed GOP of one segment with
keyframes forced at segment boundaries, so rungs switch cleanly at every segment. The
manifests come from ffmpeg's own muxers: ``dash`` with ``-hls_playlist 1`` writes one set of
CMAF segments behind both ``manifest.mpd`` and ``master.m3u8``; ``hls`` writes MPEG-TS.
Every number in the graph comes from the preset or the probe; no message text reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from core.errors import UnsupportedMedia
from core.ladder import FittedLadder, FittedRung, fit_fps, fit_ladder
from core.plan import GLOBAL_FLAGS, INPUT_FLAGS, poster_time
from core.presets import StreamingPreset
from core.probe import ProbeResult, VideoStream

THUMBNAILS_DIR = "thumbnails"
# SDR BT.709 from PQ/HLG: linearize, map primaries, tone-map, then back to BT.709 video range.
_TONEMAP = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
    "tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv"
)


@dataclass(frozen=True, slots=True)
class VideoOut:
    name: str
    width: int
    height: int
    video_kbps: int
    maxrate_kbps: int
    bufsize_kbps: int


@dataclass(frozen=True, slots=True)
class AudioOut:
    name: str
    bitrate_kbps: int
    channels: int


@dataclass(frozen=True, slots=True)
class ThumbnailPlan:
    poster: str
    pattern: str  # image2 pattern, numbered from 1
    every_frames: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class StoryboardPlan:
    pattern: str
    vtt: str
    every_frames: int
    every_seconds: float
    tile_width: int
    tile_height: int
    columns: int
    rows: int


@dataclass(frozen=True, slots=True)
class StreamingPlan:
    argv: tuple[str, ...]
    kind: str  # "cmaf" | "hls-ts"
    package_dir: str  # "cmaf" or "hls", under the job's output directory
    master: str  # relative paths from the job's output directory
    mpd: str | None
    video: tuple[VideoOut, ...]
    audio: tuple[AudioOut, ...]
    ladder: FittedLadder | None
    fps: float
    segment_seconds: float
    encoder: str
    thumbnails: ThumbnailPlan | None
    storyboard: StoryboardPlan | None
    notes: tuple[str, ...]  # conversions a reader of job.json should know about

    @property
    def directories(self) -> tuple[str, ...]:
        images = (THUMBNAILS_DIR,) if self.thumbnails or self.storyboard else ()
        return (self.package_dir, *images)


def plan_streaming(
    preset: StreamingPreset, probe: ProbeResult, source: PurePosixPath, out: PurePosixPath
) -> StreamingPlan:
    video = probe.video if preset.ladder else None
    audio = probe.audio
    audio_outs = tuple(AudioOut(a.name, a.bitrate_kbps, a.channels) for a in preset.audio)
    if audio is None:
        audio_outs = ()
    if video is None and not audio_outs:
        raise UnsupportedMedia(f"preset {preset.name} needs a stream the input does not have")
    package = "cmaf" if preset.kind == "cmaf" else "hls"
    graph: list[str] = []
    maps: list[str] = []
    codec_args: list[str] = []
    ladder, fps, thumbs, board = None, 0.0, None, None
    notes: tuple[str, ...] = ()
    image_outputs: list[str] = []
    if video is not None:
        ladder = fit_ladder(preset.ladder, *video.display_size)
        fps = fit_fps(video.fps, preset.max_fps)
        thumbs, board = _image_plans(preset, ladder, fps)
        chain, notes = _condition(preset, video, fps)
        branches = [f"[r{i}]" for i in range(len(ladder.rungs))]
        images = _image_branches(thumbs, board, video, probe, fps)
        branches += [label for label, _ in images]
        graph.append(f"[0:{video.index}]{chain},split={len(branches)}{''.join(branches)}")
        for i, rung in enumerate(ladder.rungs):
            graph.append(f"[r{i}]scale={rung.width}:{rung.height}:flags=bicubic,setsar=1[v{i}]")
            maps += ["-map", f"[v{i}]"]
            codec_args += _rung_args(
                preset, i, rung.video_kbps, rung.maxrate_kbps, rung.bufsize_kbps
            )
        graph += [body for _, body in images]
        codec_args += _gop_args(preset, fps, video)
        image_outputs = _image_outputs(out, thumbs, board)
    if audio is not None and audio_outs:
        copies = len(ladder.rungs) if preset.kind == "hls-ts" and ladder else len(audio_outs)
        pad = _match_picture(video.duration if video else 0.0)
        labels = "".join(f"[a{j}]" for j in range(copies))
        graph.append(f"[0:{audio.index}]aresample=async=1:first_pts=0{pad},asplit={copies}{labels}")
        for j in range(copies):
            spec = audio_outs[min(j, len(audio_outs) - 1)]
            maps += ["-map", f"[a{j}]"]
            codec_args += [
                f"-c:a:{j}",
                "aac",
                f"-b:a:{j}",
                f"{spec.bitrate_kbps}k",
                f"-ac:a:{j}",
                str(spec.channels),
                f"-ar:a:{j}",
                "48000",
            ]
    if preset.kind == "hls-ts" and ladder is not None and audio_outs:
        audio_outs = audio_outs[:1]
    n_video = len(ladder.rungs) if ladder else 0
    muxer = (
        _cmaf_muxer(preset, out, n_video, bool(audio_outs))
        if package == "cmaf"
        else _ts_muxer(preset, out, n_video, bool(audio_outs))
    )
    argv = [
        "ffmpeg",
        *GLOBAL_FLAGS,
        *INPUT_FLAGS,
        "-i",
        f"file:{source}",
        "-filter_complex",
        ";".join(graph),
        *maps,
        *codec_args,
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        *muxer,
        *image_outputs,
    ]
    return StreamingPlan(
        argv=tuple(argv),
        kind=preset.kind,
        package_dir=package,
        master=f"{package}/master.m3u8",
        mpd=f"{package}/manifest.mpd" if package == "cmaf" else None,
        video=tuple(
            VideoOut(r.name, r.width, r.height, r.video_kbps, r.maxrate_kbps, r.bufsize_kbps)
            for r in (ladder.rungs if ladder else ())
        ),
        audio=audio_outs,
        ladder=ladder,
        fps=fps,
        segment_seconds=preset.segment_seconds,
        encoder=preset.video_codec if video is not None else "aac",
        thumbnails=thumbs,
        storyboard=board,
        notes=notes,
    )


def _condition(
    preset: StreamingPreset, video: VideoStream, fps: float
) -> tuple[str, tuple[str, ...]]:
    """The filters every rung shares, run once: dynamic range, bit depth, constant frame rate."""
    notes: list[str] = []
    if preset.hdr == "keep":
        steps = ["format=yuv420p10le"]
    elif video.hdr:
        steps = [_TONEMAP, "format=yuv420p"]
        notes.append(f"HDR ({video.color_transfer}) tone-mapped to 8-bit SDR BT.709")
    else:
        steps = ["format=yuv420p"]
        if video.high_bit_depth:
            notes.append(f"{video.pix_fmt} reduced to 8-bit yuv420p")
    if video.fps > fps + 1e-6:
        notes.append(f"frame rate {video.fps:g} capped to {fps:g}")
    steps.append(f"fps={_rate(fps)}")  # a constant rate: keyframe times match across rungs
    return ",".join(steps), tuple(notes)


def _match_picture(seconds: float) -> str:
    """Audio padded with silence or cut to the picture's length, so that players see no
    drift between the two (a source's audio often runs a little longer or shorter)."""
    return f",apad=whole_dur={seconds:.3f},atrim=end={seconds:.3f}" if seconds > 0 else ""


def _rung_args(preset: StreamingPreset, i: int, kbps: int, maxrate: int, bufsize: int) -> list[str]:
    return [
        f"-c:v:{i}",
        preset.video_codec,
        f"-b:v:{i}",
        f"{kbps}k",
        f"-maxrate:v:{i}",
        f"{maxrate}k",
        f"-bufsize:v:{i}",
        f"{bufsize}k",
    ]


def _gop_args(preset: StreamingPreset, fps: float, video: VideoStream) -> list[str]:
    gop = max(1, round(fps * preset.segment_seconds))
    seg = f"{preset.segment_seconds:g}"
    args = [
        "-preset",
        preset.encoder_preset,
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-force_key_frames:v",
        f"expr:gte(t,n_forced*{seg})",
    ]
    if preset.video_codec == "libx264":
        args += ["-sc_threshold", "0", "-profile:v", "high"]
    else:
        args += [
            "-x265-params",
            f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error",
            "-tag:v",
            "hvc1",
            "-profile:v",
            "main10" if preset.hdr == "keep" else "main",
        ]
    if preset.hdr == "keep" and video.hdr:
        args += [
            "-color_primaries",
            "bt2020",
            "-colorspace",
            "bt2020nc",
            "-color_trc",
            str(video.color_transfer),
        ]
    elif video.hdr:
        args += ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709"]
    return args


def _cmaf_muxer(
    preset: StreamingPreset, out: PurePosixPath, n_video: int, audio: bool
) -> list[str]:
    sets = []
    if n_video:
        sets.append("id=0,streams=v")
    if audio:
        sets.append(f"id={len(sets)},streams=a")
    return [
        "-f",
        "dash",
        "-dash_segment_type",
        "mp4",
        "-seg_duration",
        f"{preset.segment_seconds:g}",
        "-use_template",
        "1",
        "-use_timeline",
        "1",
        "-streaming",
        "0",
        "-hls_playlist",
        "1",
        "-adaptation_sets",
        " ".join(sets),
        "-init_seg_name",
        "init-$RepresentationID$.m4s",
        "-media_seg_name",
        "seg-$RepresentationID$-$Number%05d$.m4s",
        f"file:{out / 'cmaf' / 'manifest.mpd'}",
    ]


def _ts_muxer(preset: StreamingPreset, out: PurePosixPath, n_video: int, audio: bool) -> list[str]:
    if n_video:
        variants = [f"v:{i},a:{i},name:{i}" if audio else f"v:{i},name:{i}" for i in range(n_video)]
    else:
        variants = ["a:0,name:0"]
    return [
        "-f",
        "hls",
        "-hls_time",
        f"{preset.segment_seconds:g}",
        "-hls_playlist_type",
        "vod",
        "-hls_flags",
        "independent_segments",
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


def _image_plans(
    preset: StreamingPreset, ladder: FittedLadder, fps: float
) -> tuple[ThumbnailPlan | None, StoryboardPlan | None]:
    top = ladder.rungs[0]
    thumbs = board = None
    if preset.thumbnails:
        width = min(preset.thumbnails.width, top.width)
        thumbs = ThumbnailPlan(
            poster=f"{THUMBNAILS_DIR}/poster.jpg",
            pattern=f"{THUMBNAILS_DIR}/thumb-%05d.jpg",
            every_frames=max(1, round(preset.thumbnails.every_seconds * fps)),
            width=width,
            height=_even_height(width, top),
        )
    if preset.storyboard:
        sb = preset.storyboard
        width = min(sb.tile_width, top.width)
        every = max(1, round(sb.every_seconds * fps))
        board = StoryboardPlan(
            pattern=f"{THUMBNAILS_DIR}/storyboard-%03d.jpg",
            vtt=f"{THUMBNAILS_DIR}/storyboard.vtt",
            every_frames=every,
            every_seconds=every / fps,
            tile_width=width,
            tile_height=_even_height(width, top),
            columns=sb.columns,
            rows=sb.rows,
        )
    return thumbs, board


def _image_branches(
    thumbs: ThumbnailPlan | None,
    board: StoryboardPlan | None,
    video: VideoStream,
    probe: ProbeResult,
    fps: float,
) -> list[tuple[str, str]]:
    """(split label, filter chain) for each picture output; frames picked by number, which
    the constant rate makes exact (one every N seconds, from the first)."""
    branches = []
    if thumbs:
        at = poster_time(video.duration or probe.duration)
        branches.append(
            (
                "[p]",
                f"[p]trim=start={at:.3f},setpts=PTS-STARTPTS,"
                f"scale={thumbs.width}:{thumbs.height},setsar=1[poster]",
            )
        )
        branches.append(
            (
                "[t]",
                f"[t]select=not(mod(n\\,{thumbs.every_frames})),"
                f"scale={thumbs.width}:{thumbs.height},setsar=1[thumbs]",
            )
        )
    if board:
        branches.append(
            (
                "[s]",
                f"[s]select=not(mod(n\\,{board.every_frames})),"
                f"scale={board.tile_width}:{board.tile_height},setsar=1,"
                f"tile={board.columns}x{board.rows}[board]",
            )
        )
    return branches


def _image_outputs(
    out: PurePosixPath, thumbs: ThumbnailPlan | None, board: StoryboardPlan | None
) -> list[str]:
    args: list[str] = []
    if thumbs:
        args += ["-map", "[poster]", "-frames:v", "1", "-q:v", "3", f"file:{out / thumbs.poster}"]
        args += [
            "-map",
            "[thumbs]",
            "-fps_mode",
            "passthrough",
            "-q:v",
            "4",
            "-f",
            "image2",
            f"file:{out / thumbs.pattern}",
        ]
    if board:
        args += [
            "-map",
            "[board]",
            "-fps_mode",
            "passthrough",
            "-q:v",
            "4",
            "-f",
            "image2",
            f"file:{out / board.pattern}",
        ]
    return args


def _even_height(width: int, top: FittedRung) -> int:
    return max(2, round(width * top.height / top.width / 2) * 2)


def _rate(fps: float) -> str:
    """NTSC rates as exact fractions, so 29.97 stays 30000/1001."""
    for base in (24, 30, 48, 60, 120):
        if abs(fps - base * 1000 / 1001) < 0.005:
            return f"{base * 1000}/1001"
    return f"{fps:.6g}"
