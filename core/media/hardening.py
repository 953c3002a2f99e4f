"""How untrusted media is read: what ffprobe and ffmpeg may open, decode and allocate, and
what the kernel lets one ffmpeg process use.

:class:`InputGuard` builds the one set of input flags both tools get: local files only
(``-protocol_whitelist file``), named demuxers only (``-format_whitelist``), named decoders
only (``-codec_whitelist``), a cap on picture size (``-max_pixels``), on streams
(``-max_streams``) and on any one allocation (``-max_alloc``). ffmpeg is also told the
demuxer ffprobe found (``-f``), so it never guesses again from the bytes.

:class:`ResourceLimits` is what the runner (:mod:`infra.ffmpeg`) applies to the process with
``setrlimit`` before ``exec``: CPU seconds, address space (the CPU tier only) and file size.
Hitting one fails as ``cpu_time_exceeded`` (the wall clock's backstop), ``memory_limit`` or
``output_too_large``; ``infra.settings`` sizes them (the transcode timeout x cores,
``FFAPI_FFMPEG_MEMORY_MB``, ``FFAPI_FFMPEG_MAX_FILE_MB``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.errors import UnsupportedFormat
from core.media.accel import AccelTier

# Demuxers accepted for uploaded media: containers that hold their own streams. Formats that
# open further files named by the input are absent: playlists (hls, dash), concat scripts,
# image2 patterns, tee, imf, vobsub (.idx opens its .sub), sdp/rtsp and the like. ``mov`` can
# point at external data through ``dref`` atoms; its ``enable_drefs`` and
# ``use_absolute_path`` options are off by default, and ffmpeg is also told so explicitly.
SOURCE_FORMATS: tuple[str, ...] = (
    "mov", "matroska", "avi", "flv", "mpegts", "mpeg", "mxf", "asf", "ogg", "nut", "dv",
    "wav", "w64", "aiff", "caf", "mp3", "aac", "flac", "ac3", "eac3", "amr", "ivf",
)  # fmt: skip
# What our own outputs are read back with when they are verified. A JPEG that ends within
# ffprobe's first read (a black or flat poster: 1-2 KB) probes as jpeg_pipe, which then
# outscores image2's match by extension.
OUTPUT_FORMATS: tuple[str, ...] = ("mov", "image2", "jpeg_pipe")

# Codecs an upload may carry, by the names ffprobe reports (``codec_name``): what phones,
# cameras, screen recorders, editors, broadcast and disc captures make. Every stream of the
# file counts, used by the job or not: ffprobe (and ffmpeg, reading the headers) opens a
# decoder for each, and may decode packets of any audio or video stream to learn its
# parameters, so a second audio track is decoded whichever the job takes. Subtitle decoders
# are only opened (initialised) there, never fed a packet (except PGS, for its size), and no
# preset decodes them; they are listed because an unlisted one fails the whole probe.
# Left out: legacy and exotic decoders (msmpeg4, wmv1/2, flv1, vp6, cinepak, indeo, game
# formats, ...) whose code sees little use and less fuzzing. Ut Video (OBS's lossless
# recordings) and QuickTime Animation (motion-graphics exports) are in; LATM is how DVB
# carries AAC; teletext rides along in most European DVB recordings.
DEFAULT_CODECS: tuple[str, ...] = (
    # video
    "h264", "hevc", "vp8", "vp9", "av1", "mpeg1video", "mpeg2video", "mpeg4", "h263",
    "prores", "dnxhd", "mjpeg", "dvvideo", "theora", "vc1", "wmv3", "ffv1", "png", "rawvideo",
    "utvideo", "qtrle",
    # audio
    "aac", "aac_latm", "mp3", "mp2", "opus", "vorbis", "flac", "alac", "ac3", "eac3", "dts",
    "truehd", "wmav2", "amr_nb", "amr_wb",
    "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_s32be",
    "pcm_f32le", "pcm_f32be", "pcm_f64le", "pcm_u8", "pcm_alaw", "pcm_mulaw",
    "pcm_bluray", "pcm_dvd",
    # subtitles (never decoded by a job; ffprobe and ffmpeg open them)
    "mov_text", "subrip", "ass", "webvtt", "text", "dvd_subtitle", "dvb_subtitle",
    "hdmv_pgs_subtitle", "eia_608", "dvb_teletext",
)  # fmt: skip

# ``-codec_whitelist`` names decoders, not codecs: where FFmpeg's software decoders for a
# codec go by other names, all of them (the build picks the first it has). Hardware wrappers
# (*_cuvid, *_qsv, *_v4l2m2m) are never listed: NVDEC runs inside the native decoder.
_DECODERS: dict[str, tuple[str, ...]] = {
    "av1": ("libdav1d", "libaom-av1", "av1"),
    "vp8": ("vp8", "libvpx"),
    "vp9": ("vp9", "libvpx-vp9"),
    "mpeg2video": ("mpeg2video", "mpegvideo"),
    "aac": ("aac", "aac_fixed"),
    "mp3": ("mp3float", "mp3"),
    "mp2": ("mp2", "mp2float"),
    "ac3": ("ac3", "ac3_fixed"),
    "opus": ("opus", "libopus"),
    "vorbis": ("vorbis", "libvorbis"),
    "dts": ("dca",),
    "amr_nb": ("amrnb", "libopencore_amrnb"),
    "amr_wb": ("amrwb", "libopencore_amrwb"),
    "subrip": ("subrip", "srt"),
    "ass": ("ass", "ssa"),
    "dvd_subtitle": ("dvdsub",),
    "dvb_subtitle": ("dvbsub",),
    "hdmv_pgs_subtitle": ("pgssub",),
    "eia_608": ("cc_dec",),
    # libzvbi's; opening it reads nothing from the file (its page decoder starts on the
    # first packet, and no job feeds it one)
    "dvb_teletext": ("libzvbi_teletextdec",),
}

# 8K (DCI 8192x4320) in pixels, either way round: no camera or editor exports more.
DEFAULT_MAX_PIXELS = 8192 * 4320
DEFAULT_MAX_STREAMS = 32
# ffmpeg's widest single allocation for a picture is one plane of packed 32-bit float RGBA
# (16 bytes a pixel); anything much larger is a length field lying.
_ALLOC_PER_PIXEL = 16
_MIN_ALLOC = 256 * 1024**2


def decoders(codecs: tuple[str, ...]) -> tuple[str, ...]:
    """The decoder names that ``-codec_whitelist`` must list to allow ``codecs``."""
    names: list[str] = []
    for codec in codecs:
        names += [n for n in _DECODERS.get(codec, (codec,)) if n not in names]
    return tuple(names)


@dataclass(frozen=True, slots=True)
class InputGuard:
    """The flags ffprobe and ffmpeg read a file with. ``None`` leaves a cap off (our own
    outputs are read back with the format whitelist alone)."""

    formats: tuple[str, ...] = SOURCE_FORMATS
    codecs: tuple[str, ...] | None = DEFAULT_CODECS
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_streams: int | None = DEFAULT_MAX_STREAMS

    def flags(self, demuxer: str | None = None) -> tuple[str, ...]:
        """Input options for ``ffprobe`` (``demuxer`` None) or before ffmpeg's ``-i``, with
        the demuxer ffprobe found (see :meth:`demuxer`)."""
        flags = ["-protocol_whitelist", "file", "-format_whitelist", ",".join(self.formats)]
        if self.codecs is not None:
            flags += ["-codec_whitelist", ",".join(decoders(self.codecs))]
        if self.max_pixels is not None:
            flags += ["-max_pixels", str(self.max_pixels), "-max_alloc", str(self.max_alloc)]
        if self.max_streams is not None:
            flags += ["-max_streams", str(self.max_streams)]
        if demuxer is not None:
            flags += ["-f", demuxer]
            if demuxer == "mov":  # external tracks (drefs) stay off, whatever the default
                flags += ["-enable_drefs", "0", "-use_absolute_path", "0"]
        return tuple(flags)

    @property
    def max_alloc(self) -> int:
        return max(_MIN_ALLOC, (self.max_pixels or 0) * _ALLOC_PER_PIXEL)

    def demuxer(self, format_name: str) -> str:
        """ffprobe's ``format_name`` (a demuxer's aliases: ``mov,mp4,m4a,3gp,3g2,mj2``,
        ``matroska,webm``) -> the name on the allowlist that ``-f`` takes."""
        for name in format_name.split(","):
            if name in self.formats:
                return name
        raise UnsupportedFormat(f"container {format_name or 'unknown'} is not accepted")


SOURCE_GUARD = InputGuard()
OUTPUT_GUARD = InputGuard(formats=OUTPUT_FORMATS, codecs=None, max_pixels=None, max_streams=None)


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """Kernel limits on one ffmpeg/ffprobe process (``setrlimit`` before ``exec``); None:
    not limited.

    ``memory_bytes`` is the address space (RLIMIT_AS): the CPU tier only, since CUDA maps
    virtual ranges far larger than any memory it uses (:meth:`for_tier`)."""

    cpu_seconds: int | None = None
    memory_bytes: int | None = None
    file_bytes: int | None = None

    def for_tier(self, tier: AccelTier) -> ResourceLimits:
        return replace(self, memory_bytes=None) if tier.on_gpu else self

    def widened(self, memory_bytes: int) -> ResourceLimits:
        """More address space (what a plan's encoders reserve), where it is capped at all."""
        if self.memory_bytes is None or memory_bytes <= 0:
            return self
        return replace(self, memory_bytes=self.memory_bytes + memory_bytes)


NO_LIMITS = ResourceLimits()
