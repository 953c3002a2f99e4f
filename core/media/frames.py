"""Where a tier's frames live between the decoder and the encoders, and the filters that
move and scale them.

The CPU tier decodes, conditions and scales in system memory. The GPU tiers decode with
NVDEC and scale with ``scale_cuda``; frames stay in GPU memory unless a filter only the CPU
has is needed first (HDR tone mapping, the rotation ffmpeg applies on decode), in which case
NVDEC's frames are copied out, conditioned, and uploaded once, before the ``split`` (and so
are an interlaced source's: :func:`deinterlace` runs on the CPU). The
``gpu`` tier hands GPU frames to NVENC; ``gpu-decode`` downloads each scaled rung for the
CPU encoders. Pictures (poster, thumbnails, storyboard) are always made on the CPU, from the
few frames they pick.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.media.accel import AccelTier, TierChoice
from core.media.probe import VideoStream

# What NVDEC decodes (Turing and later; AV1 from Ampere), in 4:2:0 only.
_NVDEC_CODECS = frozenset(
    {"h264", "hevc", "vp8", "vp9", "av1", "mpeg1video", "mpeg2video", "mpeg4", "vc1", "mjpeg"}
)
_NVDEC_8BIT = frozenset({"yuv420p", "yuvj420p", "nv12"})
_NVDEC_10BIT = frozenset({"yuv420p10le", "p010le"})
_NVDEC_10BIT_CODECS = frozenset({"hevc", "vp9", "av1"})


# SDR BT.709 from PQ/HLG: linearize, map primaries, tone-map, then back to BT.709 video range.
TONEMAP = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
    "tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv"
)
SDR_TAGS = ("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709")


def deinterlace(video: VideoStream) -> list[str]:
    """The first filter of an interlaced source: one frame a frame (25i -> 25p), and only the
    frames flagged interlaced (a mixed source's progressive frames pass untouched). Left
    interlaced, the fields comb on every movement, and a rung scaled down blends them."""
    return ["bwdif=mode=send_frame:parity=auto:deint=interlaced"] if video.interlaced else []


def gpu_pix_fmt(pix_fmt: str) -> str:
    """The CUDA filters' name for an encoder's pixel format (they take P010, not planar
    10-bit)."""
    return "p010le" if "10" in pix_fmt else "yuv420p"


def nvdec_decodes(video: VideoStream) -> bool:
    if video.codec not in _NVDEC_CODECS:
        return False
    pix = video.pix_fmt or "yuv420p"
    return pix in _NVDEC_8BIT or (pix in _NVDEC_10BIT and video.codec in _NVDEC_10BIT_CODECS)


@dataclass(frozen=True, slots=True)
class FramePath:
    tier: AccelTier
    device: int
    nvdec: bool  # NVDEC decodes (else ffmpeg's software decoder)
    on_gpu: bool  # frames stay in GPU memory from the decoder on (else they are uploaded)
    gpu_format: str  # the pixel format of frames in GPU memory before the rungs' scaling

    @classmethod
    def plan(
        cls, choice: TierChoice, video: VideoStream, pix_fmt: str, cpu_filters: bool
    ) -> FramePath:
        """``pix_fmt``: what the encoders take; ``cpu_filters``: the conditioning needs a
        CPU-only filter (tone mapping, deinterlacing)."""
        if not choice.tier.on_gpu:
            return cls(AccelTier.CPU, 0, False, False, pix_fmt)
        nvdec = nvdec_decodes(video)
        stays = nvdec and not cpu_filters and video.rotation == 0
        # NVDEC's own output (NV12, or P010 from a 10-bit source), or what was uploaded
        native = "p010le" if video.high_bit_depth else "nv12"
        return cls(
            choice.tier, choice.device, nvdec, stays, native if stays else gpu_pix_fmt(pix_fmt)
        )

    @property
    def input_args(self) -> tuple[str, ...]:
        """Before ``-i``: NVDEC on the job's device, frames kept in GPU memory when they can."""
        if not self.nvdec:
            return ()
        args = ("-hwaccel", "cuda", "-hwaccel_device", str(self.device))
        return (*args, "-hwaccel_output_format", "cuda") if self.on_gpu else args

    def condition(self, cpu_filters: list[str], pix_fmt: str, fps: str, end: float = 0.0) -> str:
        """The chain before the ``split``: CPU-only filters and the pixel format (on the GPU
        ``scale_cuda`` converts it per rung instead), the constant frame rate, the end of
        the picture (``end`` seconds, when not 0), and the upload when frames were
        conditioned on the CPU."""
        timing = [f"fps={fps}", *([f"trim=end={end:.3f}"] if end > 0 else [])]
        if self.tier is AccelTier.CPU:
            return ",".join([*cpu_filters, f"format={pix_fmt}", *timing])
        if self.on_gpu:
            return ",".join(timing)
        steps = [*cpu_filters, f"format={self.gpu_format}", *timing]
        return ",".join([*steps, f"hwupload_cuda=device={self.device}"])

    def scale(self, width: int, height: int, pix_fmt: str) -> str:
        """One rung's chain: frames of ``width``x``height`` in ``pix_fmt``, where the tier's
        encoder takes them (system memory, or GPU memory for NVENC)."""
        if self.tier is AccelTier.CPU:
            return f"scale={width}:{height}:flags=bicubic,setsar=1"
        on_gpu = gpu_pix_fmt(pix_fmt)
        chain = f"scale_cuda=w={width}:h={height}:interp_algo=bicubic:format={on_gpu}"
        if self.tier is AccelTier.GPU_DECODE:
            chain += f",hwdownload,format={on_gpu}"
            if on_gpu != pix_fmt:
                chain += f",format={pix_fmt}"
        return chain + ",setsar=1"

    @property
    def to_cpu(self) -> str:
        """Prefix of a picture branch's CPU filters: copy its picked frames out of the GPU."""
        return f"hwdownload,format={self.gpu_format}," if self.tier.on_gpu else ""
