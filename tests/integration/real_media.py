"""A corpus of realistic uploads, made on the spot by Debian's ffmpeg 5.1: what phones,
cameras, screen recorders, editors, broadcast and disc captures and music libraries send,
each short (1.5 s) and small.

Each maker writes its file into ``work`` (where it may leave intermediates) and returns it.
What ffmpeg 5.1 cannot encode is written by hand (:mod:`tests.integration.broadcast_streams`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.integration.broadcast_streams import add_teletext_and_cues, pgs_subtitles
from tests.integration.local_job import ffmpeg

SECONDS = "1.5"


def picture(size: str = "320x240", rate: str = "30") -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={SECONDS}"]


def tone(freq: int = 440, rate: int = 48000) -> list[str]:
    """A stereo tone (a mono source upmixed, as most uploads carry two channels)."""
    sine = f"sine=frequency={freq}:sample_rate={rate}:duration={SECONDS}"
    return ["-f", "lavfi", "-i", f"{sine},aformat=channel_layouts=stereo"]


X264 = ["-c:v", "libx264", "-preset", "ultrafast"]


def fields(first: str) -> str:
    """Interlaced pictures from a moving source at twice the rate: each frame's two fields
    were shot 1/50 s (or 1/60 s) apart, so they comb where anything moves."""
    return f"tinterlace=mode=interleave_{first},setfield={first[0]}ff"


def _bitmap_subtitles(work: Path, width: int, height: int) -> str:
    (work / "subs.sup").write_bytes(pgs_subtitles(width, height))
    return "subs.sup"


# ---------------------------------------------------------------- phones and cameras


def iphone_hevc(work: Path) -> Path:
    """An iPhone's HDR video: HEVC Main 10 in HLG, 'hvc1', held in landscape and marked to be
    shown portrait (the display matrix), AAC, a timecode track (tmcd) and the location, make
    and model as QuickTime metadata keys."""
    hlg = ["-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc"]
    ffmpeg(*picture(), *tone(), "-c:v", "libx265", "-preset", "ultrafast",
           "-x265-params", "log-level=error", "-pix_fmt", "yuv420p10le", *hlg,
           "-tag:v", "hvc1", "-c:a", "aac", "-ac", "2", "hevc.mov", cwd=work)  # fmt: skip
    # ffmpeg 5.1 writes the display matrix from a rotate tag on a stream copy only
    ffmpeg("-i", "hevc.mov", "-map", "0", "-c", "copy", "-metadata:s:v", "rotate=-90",
           "-timecode", "01:00:00:00", "-metadata", "creation_time=2024-05-01T10:00:00Z",
           "-metadata", "location=+37.3349-122.0090+010.000/",
           "-metadata", "com.apple.quicktime.make=Apple",
           "-metadata", "com.apple.quicktime.model=iPhone 15 Pro",
           "-movflags", "use_metadata_tags", "iphone.mov", cwd=work)  # fmt: skip
    return work / "iphone.mov"


def prores_camera(work: Path) -> Path:
    """A camera or recorder's ProRes 422 HQ MOV: 10-bit 4:2:2, four channels of 24-bit PCM, a
    timecode track."""
    ffmpeg(*picture("320x180", "25"), *tone(), "-c:v", "prores_ks", "-profile:v", "3",
           "-pix_fmt", "yuv422p10le", "-c:a", "pcm_s24le", "-ac", "4",
           "-timecode", "10:00:00:00", "prores.mov", cwd=work)  # fmt: skip
    return work / "prores.mov"


def gopro(work: Path) -> Path:
    """An action camera's MP4: H.264, AAC, a 'GoPro MET' telemetry track (gpmd, a data
    stream) and a timecode track. The telemetry comes from an MPEG-TS private data stream,
    where ffmpeg's raw data input gets a codec (bin_data) that the MP4 muxer can tag."""
    (work / "telemetry.bin").write_bytes(bytes(range(256)) * 16)
    ffmpeg(*picture(), "-f", "data", "-i", "telemetry.bin", "-map", "0", "-map", "1", *X264,
           "-c:d", "copy", "telemetry.ts", cwd=work)  # fmt: skip
    ffmpeg("-i", "telemetry.ts", *tone(), "-map", "0:v", "-map", "1:a", "-map", "0:d",
           "-c:v", "copy", "-c:a", "aac", "-c:d", "copy", "-tag:d", "gpmd",
           "-timecode", "00:00:10:00", "gopro.mp4", cwd=work)  # fmt: skip
    return work / "gopro.mp4"


def android_av1(work: Path) -> Path:
    """A recent Android phone's AV1 MP4, held the other way round from the iPhone's
    (rotate=90), with AAC."""
    ffmpeg(*picture(), *tone(), "-c:v", "libsvtav1", "-preset", "12", "-c:a", "aac",
           "av1.mp4", cwd=work)  # fmt: skip
    ffmpeg("-i", "av1.mp4", "-map", "0", "-c", "copy", "-metadata:s:v", "rotate=90",
           "android.mp4", cwd=work)  # fmt: skip
    return work / "android.mp4"


def phone_vfr(work: Path) -> Path:
    """A phone's variable frame rate: 30 fps for half a second, then 15 fps (low light: every
    other frame dropped, the rest keep their times), AAC."""
    ffmpeg(*picture(), *tone(), "-vf", "select='lt(t,0.5)+mod(n,2)'", "-fps_mode", "vfr",
           *X264, "-c:a", "aac", "vfr.mp4", cwd=work)  # fmt: skip
    return work / "vfr.mp4"


# ---------------------------------------------------------------- desktop and web


def matroska_multitrack(work: Path) -> Path:
    """A screen recording or release in Matroska: H.264, three audio tracks (AAC, Opus, AAC),
    SubRip and ASS subtitles, and the ASS script's font as an attachment."""
    (work / "subs.srt").write_text("1\n00:00:00,100 --> 00:00:01,000\nHello\n")
    (work / "font.ttf").write_bytes(b"\x00\x01\x00\x00" + bytes(252))  # a TrueType header
    ffmpeg(*picture(), *tone(440), *tone(550), *tone(660), "-i", "subs.srt", "-i", "subs.srt",
           "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a", "-map", "4:s",
           "-map", "5:s", *X264, "-c:a:0", "aac", "-c:a:1", "libopus", "-c:a:2", "aac",
           "-c:s:0", "srt", "-c:s:1", "ass", "-attach", "font.ttf",
           "-metadata:s:t", "mimetype=application/x-truetype-font",
           "-metadata:s:a:1", "language=eng", "-metadata:s:a:2", "title=Commentary",
           "multi.mkv", cwd=work)  # fmt: skip
    return work / "multi.mkv"


def bluray_remux(work: Path) -> Path:
    """A Blu-ray remux in Matroska: 23.976 fps H.264, 5.1 TrueHD, DTS and E-AC-3 tracks (each
    decoded by the probe, whichever the job takes), PGS subtitles."""
    subs = _bitmap_subtitles(work, 320, 240)
    surround = ["-f", "lavfi", "-i", f"sine=duration={SECONDS},aformat=channel_layouts=5.1"]
    ffmpeg(*picture("320x240", "24000/1001"), *surround, "-i", subs, "-map", "0:v",
           *["-map", "1:a"] * 3, "-map", "2:s", *X264, "-c:a:0", "truehd", "-c:a:1", "dca",
           "-c:a:2", "eac3", "-strict", "-2", "-c:s", "copy", "remux.mkv",
           cwd=work)  # fmt: skip
    return work / "remux.mkv"


def webm_vp9(work: Path) -> Path:
    ffmpeg(*picture(), *tone(), "-c:v", "libvpx-vp9", "-deadline", "realtime",
           "-cpu-used", "8", "-b:v", "300k", "-c:a", "libopus", "clip.webm", cwd=work)  # fmt: skip
    return work / "clip.webm"


def flv_h264(work: Path) -> Path:
    ffmpeg(*picture(), *tone(rate=44100), *X264, "-c:a", "aac", "clip.flv", cwd=work)
    return work / "clip.flv"


def ogg_theora(work: Path) -> Path:
    ffmpeg(*picture(), *tone(), "-c:v", "libtheora", "-q:v", "5", "-c:a", "libvorbis",
           "clip.ogv", cwd=work)  # fmt: skip
    return work / "clip.ogv"


def avi_mjpeg(work: Path) -> Path:
    """A webcam or old camera's AVI: Motion JPEG (full-range yuvj422p) and 16-bit PCM."""
    ffmpeg(*picture("320x240", "15"), *tone(), "-c:v", "mjpeg", "-pix_fmt", "yuvj422p",
           "-q:v", "5", "-c:a", "pcm_s16le", "clip.avi", cwd=work)  # fmt: skip
    return work / "clip.avi"


def xvid_avi_odd(work: Path) -> Path:
    """A DivX/Xvid-era AVI at an odd size, 321x241: MPEG-4 Part 2 'XVID' and MP3."""
    ffmpeg(*picture("320x240", "25"), *tone(rate=44100), "-vf", "scale=321:241,setsar=1",
           "-c:v", "mpeg4", "-vtag", "XVID", "-c:a", "libmp3lame", "odd.avi",
           cwd=work)  # fmt: skip
    return work / "odd.avi"


def obs_lossless(work: Path) -> Path:
    """OBS's "Lossless Quality" recording: Ut Video and 16-bit PCM in AVI."""
    ffmpeg(*picture(), *tone(), "-c:v", "utvideo", "-c:a", "pcm_s16le", "lossless.avi", cwd=work)
    return work / "lossless.avi"


def animation_mov(work: Path) -> Path:
    """A motion-graphics export in QuickTime Animation (qtrle, RGB) with PCM."""
    ffmpeg(*picture(), *tone(), "-c:v", "qtrle", "-c:a", "pcm_s16le", "anim.mov", cwd=work)
    return work / "anim.mov"


def flash_flv(work: Path) -> Path:
    """A Flash-era FLV: Sorenson Spark (flv1) and MP3."""
    ffmpeg(*picture(), *tone(rate=44100), "-c:v", "flv1", "-c:a", "libmp3lame", "old.flv", cwd=work)
    return work / "old.flv"


def asf_wmv(work: Path) -> Path:
    """Windows Media: WMV 8 (wmv2) and WMA 2, the newest pair ffmpeg 5.1 can encode."""
    ffmpeg(*picture(), *tone(rate=44100), "-c:v", "wmv2", "-b:v", "500k", "-c:a", "wmav2",
           "-b:a", "64k", "clip.wmv", cwd=work)  # fmt: skip
    return work / "clip.wmv"


# ---------------------------------------------------------------- broadcast and disc


def dvb_ts(work: Path) -> Path:
    """A DVB-S recording: 16:9 PAL (720x576 at SAR 64:45), interlaced MPEG-2 (top field first),
    MP2 and AC-3 audio, DVB subtitles, in two programs (services)."""
    subs = _bitmap_subtitles(work, 720, 576)
    ffmpeg(*picture("720x576", "50"), *tone(440), *tone(660), "-i", subs,
           "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s", "-vf", fields("top"),
           "-c:v", "mpeg2video", "-b:v", "3M", "-flags", "+ilme+ildct", "-top", "1",
           "-aspect", "16:9", "-c:a:0", "mp2", "-b:a:0", "192k", "-c:a:1", "ac3",
           "-ac:a:1", "2", "-c:s", "dvbsub", "-metadata:s:a:0", "language=deu",
           "-metadata:s:a:1", "language=eng", "-metadata:s:s:0", "language=deu",
           "-program", "program_num=101:title=Erste:st=0:st=1:st=3",
           "-program", "program_num=102:title=Zweite:st=0:st=2", "dvb.ts",
           cwd=work)  # fmt: skip
    return work / "dvb.ts"


def dvb_t2_ts(work: Path) -> Path:
    """A DVB-T2 HD recording: H.264, HE-AAC in LATM (as DVB carries AAC) and AC-3, plus what
    a multiplex adds that ffmpeg cannot encode: teletext and SCTE-35 cues."""
    ffmpeg(*picture("320x180", "25"), *tone(440), *tone(660), "-map", "0:v", "-map", "1:a",
           "-map", "2:a", *X264, "-c:a:0", "aac", "-c:a:1", "ac3", "-mpegts_flags", "+latm",
           "-metadata:s:a:0", "language=deu", "t2.ts", cwd=work)  # fmt: skip
    (work / "t2txt.ts").write_bytes(add_teletext_and_cues((work / "t2.ts").read_bytes()))
    return work / "t2txt.ts"


def avchd_m2ts(work: Path) -> Path:
    """A camcorder's AVCHD (or a Blu-ray's) M2TS: 192-byte packets, H.264, AC-3 and a PGS
    subtitle stream."""
    subs = _bitmap_subtitles(work, 320, 240)
    ffmpeg(*picture("320x240", "25"), *tone(), "-i", subs, "-map", "0", "-map", "1",
           "-map", "2", *X264, "-c:a", "ac3", "-c:s", "copy", "-mpegts_m2ts_mode", "1",
           "clip.m2ts", cwd=work)  # fmt: skip
    return work / "clip.m2ts"


def minidv(work: Path) -> Path:
    """A MiniDV capture: raw DV, PAL 4:3 (720x576 at SAR 16:15), interlaced, 16-bit PCM."""
    ffmpeg(*picture("720x576", "50"), *tone(), "-vf", fields("bottom"), "-target", "pal-dv",
           "clip.dv", cwd=work)  # fmt: skip
    return work / "clip.dv"


def dvd_vob(work: Path) -> Path:
    """A DVD's VOB (MPEG-2 program stream with navigation packets): NTSC 4:3 720x480 (SAR
    8:9), interlaced (bottom field first), AC-3, DVD subtitles."""
    subs = _bitmap_subtitles(work, 720, 480)
    ffmpeg(*picture("720x480", "60000/1001"), *tone(), "-i", subs, "-map", "0:v",
           "-map", "1:a", "-map", "2:s", "-vf", fields("bottom"), "-target", "ntsc-dvd",
           "-aspect", "4:3",
           "-flags", "+ilme+ildct", "-top", "0",
           "-c:s", "dvdsub", "dvd.vob", cwd=work)  # fmt: skip
    return work / "dvd.vob"


def vcd_mpg(work: Path) -> Path:
    """A Video CD's MPEG-1 system stream: 352x288 MPEG-1 video and MP2."""
    ffmpeg(*picture("352x288", "25"), *tone(rate=44100), "-target", "pal-vcd", "vcd.mpg", cwd=work)
    return work / "vcd.mpg"


def mxf_xdcam(work: Path) -> Path:
    """A broadcast MXF (OP1a): long-GOP MPEG-2 (16:9 PAL) and four mono 24-bit PCM tracks."""
    ffmpeg(*picture("720x576", "25"), *tone(), *["-map", "0:v"], *["-map", "1:a"] * 4,
           "-c:v", "mpeg2video", "-b:v", "4M", "-aspect", "16:9", "-c:a", "pcm_s24le", "-ac", "1",
           "-f", "mxf", "xdcam.mxf",
           cwd=work)  # fmt: skip
    return work / "xdcam.mxf"


def mxf_dnxhr(work: Path) -> Path:
    """An Avid export: DNxHR LB in MXF, 24-bit PCM."""
    ffmpeg(*picture("320x240", "25"), *tone(), "-c:v", "dnxhd", "-profile:v", "dnxhr_lb",
           "-pix_fmt", "yuv422p", "-c:a", "pcm_s24le", "-f", "mxf", "dnxhr.mxf",
           cwd=work)  # fmt: skip
    return work / "dnxhr.mxf"


# ---------------------------------------------------------------- music libraries


def _cover(work: Path) -> str:
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=300x300", "-frames:v", "1", "cover.png", cwd=work)
    return "cover.png"


def mp3_cover(work: Path) -> Path:
    """An MP3 with ID3v2.3 tags and front cover art (an attached_pic video stream, JPEG)."""
    cover = _cover(work)
    ffmpeg(*tone(rate=44100), "-i", cover, "-map", "0", "-map", "1", "-c:a", "libmp3lame",
           "-b:a", "128k", "-c:v", "mjpeg", "-disposition:v", "attached_pic",
           "-id3v2_version", "3", "-metadata", "title=Corpus", "-metadata", "artist=Test",
           "-metadata:s:v", "comment=Cover (front)", "song.mp3", cwd=work)  # fmt: skip
    return work / "song.mp3"


def flac_cover(work: Path) -> Path:
    """FLAC, 24-bit 96 kHz, with Vorbis comments and a PNG front cover."""
    cover = _cover(work)
    ffmpeg(*tone(rate=96000), "-i", cover, "-map", "0", "-map", "1", "-c:a", "flac",
           "-sample_fmt", "s32", "-c:v", "png", "-disposition:v", "attached_pic",
           "-metadata", "ARTIST=Test", "song.flac", cwd=work)  # fmt: skip
    return work / "song.flac"


def wav_bwf(work: Path) -> Path:
    """A Broadcast Wave file (bext chunk) of 24-bit stereo PCM."""
    ffmpeg(*tone(), "-c:a", "pcm_s24le", "-write_bext", "1",
           "-metadata", "originator=Recorder", "take.wav", cwd=work)  # fmt: skip
    return work / "take.wav"


def m4a_alac(work: Path) -> Path:
    """An Apple Lossless M4A with cover art and chapters (as audiobooks and podcasts have)."""
    cover = _cover(work)
    (work / "chapters.txt").write_text(
        ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=700\ntitle=One\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=700\nEND=1500\ntitle=Two\n"
    )
    ffmpeg(*tone(rate=44100), "-i", cover, "-i", "chapters.txt", "-map", "0", "-map", "1",
           "-map_chapters", "2", "-c:a", "alac", "-c:v", "png", "-disposition:v",
           "attached_pic", "song.m4a", cwd=work)  # fmt: skip
    return work / "song.m4a"


VIDEO: dict[str, Callable[[Path], Path]] = {
    "iphone-hevc-hlg-mov": iphone_hevc,
    "prores-camera-mov": prores_camera,
    "gopro-mp4": gopro,
    "android-av1-mp4": android_av1,
    "phone-vfr-mp4": phone_vfr,
    "matroska-multitrack": matroska_multitrack,
    "bluray-remux-mkv": bluray_remux,
    "webm-vp9-opus": webm_vp9,
    "flv-h264-aac": flv_h264,
    "ogg-theora-vorbis": ogg_theora,
    "avi-mjpeg-pcm": avi_mjpeg,
    "xvid-avi-321x241": xvid_avi_odd,
    "obs-utvideo-avi": obs_lossless,
    "qtrle-animation-mov": animation_mov,
    "flash-flv1-mp3": flash_flv,
    "asf-wmv2-wma2": asf_wmv,
    "dvb-s-mpeg2-ts": dvb_ts,
    "dvb-t2-teletext-scte35-ts": dvb_t2_ts,
    "avchd-m2ts": avchd_m2ts,
    "minidv-dv": minidv,
    "dvd-vob": dvd_vob,
    "vcd-mpg": vcd_mpg,
    "mxf-xdcam": mxf_xdcam,
    "mxf-dnxhr": mxf_dnxhr,
}
AUDIO: dict[str, Callable[[Path], Path]] = {
    "mp3-id3-cover": mp3_cover,
    "flac-cover": flac_cover,
    "wav-bwf": wav_bwf,
    "m4a-alac-chapters": m4a_alac,
}
