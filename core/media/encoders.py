"""Video encoder arguments per tier: the same quality intent from libx264/libx265 and NVENC.

A preset names a software codec (libx264, libx265, libsvtav1) and an x264-style speed preset;
the ``gpu`` tier maps them to ``h264_nvenc``/``hevc_nvenc``/``av1_nvenc`` (where the build has
it: a build without it fails as ``nvenc_unavailable`` and the job moves to ``gpu-decode``)
with a comparable speed preset, high-quality tuning, VBR with
lookahead, spatial AQ and B-frames. Keyframe alignment is identical on every tier: a fixed
GOP of one segment in whole frames (:mod:`core.media.gop`: at 29.97, 120 frames, 4.004 s),
keyframes forced every GOP (IDR on NVENC), and no scene-cut keyframes, so rungs from any tier
switch cleanly and a fallback changes no segment boundary.
SVT-AV1 runs each rung at level of parallelism 1, and the address space its rungs reserve
is added to the plan's RLIMIT_AS (:func:`encoder_reserve_mib`). Also here: the encoders a
preset needs per tier (:func:`missing_encoder`).
"""

from __future__ import annotations

from fractions import Fraction

from core.media.accel import AccelTier
from core.media.frames import SDR_TAGS
from core.media.gop import KEYFRAMES_FLAG, keyframe_expression, segment_gop
from core.media.probe import VideoStream
from core.presets import Mp4Preset, OutputPreset, StepsPreset, StreamingPreset
from core.steps.outputs import Frames, Preview
from core.streaming.span import conditioned_rate

_NVENC = {"libx264": "h264_nvenc", "libx265": "hevc_nvenc", "libsvtav1": "av1_nvenc"}
# x264 speed presets -> NVENC's p1 (fastest) .. p7 (best); NVENC is fast enough at every
# one of them that the mapping leans to quality.
_NVENC_PRESET = {
    "ultrafast": "p1", "superfast": "p2", "veryfast": "p4", "faster": "p4",
    "fast": "p5", "medium": "p5", "slow": "p6", "slower": "p7",
}  # fmt: skip
# ... and to SVT-AV1's 0 (slowest) .. 13 (fastest), where 10 is already a fast encode
_SVT_PRESET = {
    "ultrafast": 12, "superfast": 11, "veryfast": 10, "faster": 9,
    "fast": 8, "medium": 7, "slow": 5, "slower": 4,
}  # fmt: skip
_LOOKAHEAD_FRAMES = 20
_B_FRAMES = 3
# SVT-AV1's level of parallelism, per rung. Left at 0 (auto) it sizes its threads and
# picture buffers from the host's cores, for each encoder: a 1080p web-av1 ladder reserved
# 8.9 GiB of address space on 2 cores and 44 GiB with 16 cores seen (bench/ladder_memory.py),
# mostly thread stacks, so it broke the process's RLIMIT_AS, worse on bigger hosts. Level 1
# (about 20 threads, the fewest picture buffers) means the same in SVT-AV1 1.x (cores) and
# 2.x (levels); already 2 starts about 200 threads on 1.4. The rungs of one ffmpeg encode in
# parallel, so a ladder still keeps a core per rung busy.
SVT_PARALLELISM = 1
# What one SVT-AV1 rung at that level reserves beyond ffmpeg's own, in MiB: a fixed part
# (threads, their stacks) and a part per pixel of the rung (picture buffers). Measured as
# the VmPeak of one encode less that of the same decode and scale without it (SVT-AV1 1.4):
# 1080p +766, 720p +562, 360p +438.
_SVT_FIXED_MIB = 400
_SVT_MIB_PER_MEGAPIXEL = 175


def video_encoder(codec: str, tier: AccelTier) -> str:
    return _NVENC[codec] if tier is AccelTier.GPU else codec


# The encoders of the steps' pictures (JPEG is ffmpeg's own mjpeg, in every build).
_PICTURE_ENCODERS = {"png": "png", "webp": "libwebp", "gif": "gif", "jpg": "mjpeg"}


def picture_formats(preset: StepsPreset) -> list[str]:
    """The picture formats a steps preset's frames and previews write."""
    return [s.format for s in preset.steps if isinstance(s, Frames | Preview)]


def needed_encoders(preset: OutputPreset, tier: AccelTier) -> tuple[str, ...]:
    """The encoders a job of ``preset`` runs on ``tier`` (pictures use ffmpeg's own mjpeg)."""
    if isinstance(preset, StepsPreset):  # every encode step's, and the pictures', once each
        needed = [e for p in preset.encodes.values() for e in needed_encoders(p, tier)]
        needed += [_PICTURE_ENCODERS[f] for f in picture_formats(preset)]
        return tuple(dict.fromkeys(needed))
    if isinstance(preset, StreamingPreset) and not preset.ladder:
        return ("aac",)  # audio alone, on the CPU whatever the tier
    return (video_encoder(preset.video_codec, tier), "aac")


def missing_encoder(preset: OutputPreset, tier: AccelTier, build: frozenset[str]) -> str | None:
    """The first encoder ``preset`` needs on ``tier`` that the ffmpeg ``build`` lacks."""
    return next((e for e in needed_encoders(preset, tier) if e not in build), None)


def rung_rate_args(i: int, encoder: str, kbps: int, maxrate: int, bufsize: int) -> list[str]:
    """One rung's encoder and its constrained VBR (the HLS/DASH bandwidth it is listed at);
    SVT-AV1's own parameters per rung (no scene-cut keyframes, its parallelism)."""
    args = [
        f"-c:v:{i}", encoder, f"-b:v:{i}", f"{kbps}k",
        f"-maxrate:v:{i}", f"{maxrate}k", f"-bufsize:v:{i}", f"{bufsize}k",
    ]  # fmt: skip
    if encoder == "libsvtav1":
        args += [f"-svtav1-params:v:{i}", f"scd=0:lp={SVT_PARALLELISM}"]
    return args


def encoder_reserve_mib(encoder: str, width: int, height: int) -> int:
    """Address space one rung's encoder reserves beyond what ffmpeg's own limit covers (the
    deployment's FFAPI_FFMPEG_MEMORY_MB): SVT-AV1's, sized from the rung; 0 for the others
    (x264 and x265 share ffmpeg's threads, and NVENC runs without an address-space cap)."""
    if encoder != "libsvtav1":
        return 0
    return _SVT_FIXED_MIB + round(_SVT_MIB_PER_MEGAPIXEL * width * height / 1e6)


def ladder_args(
    preset: StreamingPreset, tier: AccelTier, fps: float, video: VideoStream
) -> list[str]:
    """Arguments every rung shares: speed, GOP and keyframes, profile, colour tags."""
    gop = segment_gop(Fraction(conditioned_rate(fps)), preset.segment_seconds)
    keyframes = [KEYFRAMES_FLAG, keyframe_expression(gop)]
    ten_bit = preset.hdr == "keep"
    if tier is AccelTier.GPU:
        args = [*_nvenc_quality(preset.encoder_preset), "-rc:v", "vbr", "-g:v", str(gop),
                *keyframes, "-forced-idr:v", "1", "-no-scenecut:v", "1"]  # fmt: skip
    else:
        args = _software_gop(preset, gop, keyframes)
    if preset.video_codec == "libx264":
        args += ["-profile:v", "high"]
    elif preset.video_codec == "libx265":
        args += ["-tag:v", "hvc1", "-profile:v", "main10" if ten_bit else "main"]
    return args + _colour_args(preset, video)


def _software_gop(preset: StreamingPreset, gop: int, keyframes: list[str]) -> list[str]:
    if preset.video_codec == "libsvtav1":  # SVT-AV1 takes a number for its speed
        speed = str(_SVT_PRESET[preset.encoder_preset])
        return ["-preset", speed, "-g", str(gop), *keyframes]  # the rest per rung
    args = ["-preset", preset.encoder_preset, "-g", str(gop), "-keyint_min", str(gop), *keyframes]
    if preset.video_codec == "libx264":
        return [*args, "-sc_threshold", "0"]
    return [*args, "-x265-params", f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error"]


def mp4_args(preset: Mp4Preset, tier: AccelTier, gop: int) -> list[str]:
    """The progressive MP4's video: constant quality (x264's CRF; NVENC's CQ at the same
    number), high profile, a keyframe every two seconds."""
    encoder = video_encoder(preset.video_codec, tier)
    if tier is AccelTier.GPU:
        quality = [*_nvenc_quality(preset.x264_preset), "-rc:v", "vbr",
                   "-cq:v", str(preset.crf), "-b:v", "0"]  # fmt: skip
    else:
        quality = ["-preset", preset.x264_preset, "-crf", str(preset.crf)]
    return ["-c:v", encoder, *quality, "-profile:v", "high", "-g", str(gop)]


def _nvenc_quality(speed: str) -> list[str]:
    return [
        "-preset:v", _NVENC_PRESET[speed], "-tune:v", "hq",
        "-rc-lookahead:v", str(_LOOKAHEAD_FRAMES), "-spatial-aq:v", "1",
        "-bf:v", str(_B_FRAMES),
    ]  # fmt: skip


def _colour_args(preset: StreamingPreset, video: VideoStream) -> list[str]:
    if preset.hdr == "keep" and video.hdr:
        return ["-color_primaries", "bt2020", "-colorspace", "bt2020nc",
                "-color_trc", str(video.color_transfer)]  # fmt: skip
    if video.hdr:
        return list(SDR_TAGS)
    return []
