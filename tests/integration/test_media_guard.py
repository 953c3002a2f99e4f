"""Hostile media against the real ffprobe/ffmpeg: the input guard and the preflight refuse
each generated fixture with its own code, from the probe, before any transcode starts.

The pipeline runs for real (download, ffprobe under the guard, preflight); only the object
store is a local copy and the media tool counts the transcodes it is asked for
(``tests/integration/local_job.py``).
"""

from __future__ import annotations

import asyncio
import re
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from core.errors import FfapiError
from core.media.hardening import DEFAULT_CODECS, SOURCE_GUARD, InputGuard, decoders
from core.media.preflight import MediaLimits, check_media
from core.media.probe import parse_probe
from core.presets import OutputPreset
from infra.ffmpeg import FfmpegMedia
from tests.integration.local_job import AUDIO_ONLY, MP4, WEB, ffmpeg, run_job

pytestmark = pytest.mark.integration


def refused(source: Path, tmp_path: Path, **kwargs: Any) -> FfapiError:
    error, transcodes = run_job(source, tmp_path, **kwargs)
    assert error is not None, "the pipeline accepted a hostile input"
    assert error.retryable is False  # permanent: one job.failed, no retry
    assert transcodes == 0  # refused from the probe, before any encode
    return error


# --------------------------------------------------------------------------- fixtures


def huge_picture(tmp_path: Path) -> Path:
    """A Matroska stating 16000x16000: a 1-bit PNG (a few KB: zlib of zeros), stream-copied
    so nothing is decoded while making it."""
    width = height = 16000

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + one bit a pixel
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
    (tmp_path / "big.png").write_bytes(png + chunk(b"IEND", b""))
    ffmpeg("-i", "big.png", "-c", "copy", "big.mkv", cwd=tmp_path)
    return tmp_path / "big.mkv"


def clip(tmp_path: Path, name: str = "clip.mp4", *extra: str, rate: int = 10) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=160x120:rate={rate}:duration=1",
           "-f", "lavfi", "-i", "sine=duration=1", "-c:v", "libx264", "-preset", "ultrafast",
           "-c:a", "aac", *extra, name, cwd=tmp_path)  # fmt: skip
    return tmp_path / name


def claiming_ten_hours(tmp_path: Path) -> Path:
    """A one-second MP4 whose movie header (mvhd) and media headers (mdhd) say ten hours:
    22 KB that ffprobe reports as 36000 s."""
    data = bytearray(clip(tmp_path, "short.mp4").read_bytes())

    def patch(start: int, end: int) -> None:
        at = start
        while at + 8 <= end:
            size, kind = struct.unpack(">I4s", data[at : at + 8])
            if kind in (b"moov", b"trak", b"mdia"):
                patch(at + 8, at + size)
            elif kind in (b"mvhd", b"mdhd"):
                assert data[at + 8] == 0  # version 0: 32-bit times
                timescale_at = at + 8 + 4 + 8  # version+flags, creation, modification
                (timescale,) = struct.unpack(">I", data[timescale_at : timescale_at + 4])
                struct.pack_into(">I", data, timescale_at + 4, 10 * 3600 * timescale)
            at += size

    patch(0, len(data))
    (tmp_path / "tenhours.mp4").write_bytes(data)
    return tmp_path / "tenhours.mp4"


def forty_streams(tmp_path: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "pcm_s16le", "s.wav", cwd=tmp_path)
    ffmpeg("-i", "s.wav", *["-map", "0:a"] * 40, "-c", "copy", "many.mkv", cwd=tmp_path)
    return tmp_path / "many.mkv"


# --------------------------------------------------------------------------- refusals


def test_a_picture_stated_at_16000x16000_is_frame_too_large(tmp_path: Path) -> None:
    big = huge_picture(tmp_path)
    assert big.stat().st_size < 100_000
    error = refused(big, tmp_path)
    assert error.code == "frame_too_large"
    assert "16000x16000" in error.message  # ffprobe's -max_pixels said it, and so do we


def test_a_tiny_file_claiming_ten_hours_is_input_too_long(tmp_path: Path) -> None:
    source = claiming_ten_hours(tmp_path)
    assert source.stat().st_size < 100_000
    assert refused(source, tmp_path).code == "input_too_long"
    # a preset's own stricter cap applies to an honest short file too
    short = MP4.model_copy(update={"max_duration_seconds": 0.5})
    assert refused(clip(tmp_path), tmp_path / "p", preset=short).code == "input_too_long"


def test_forty_streams_are_too_many(tmp_path: Path) -> None:
    many = forty_streams(tmp_path)
    # ffprobe's own -max_streams stops the demuxer (it says "Cannot allocate memory" too)
    assert refused(many, tmp_path, preset=AUDIO_ONLY).code == "too_many_streams"
    # read with a guard above the file's count, the preflight's own count refuses it
    doc = asyncio.run(FfmpegMedia().probe(many, InputGuard(max_streams=64)))
    with pytest.raises(FfapiError) as info:
        check_media(parse_probe(doc), MediaLimits(), AUDIO_ONLY)
    assert info.value.code == "too_many_streams"
    # and the same file is a job where the cap is 64
    error, transcodes = run_job(many, tmp_path / "lenient", AUDIO_ONLY, MediaLimits(max_streams=64))
    assert (error, transcodes) == (None, 1)


def test_seventeen_attachments_are_too_many(tmp_path: Path) -> None:
    source = clip(tmp_path, "plain.mkv")
    fonts = []
    for i in range(17):
        (tmp_path / f"font{i}.ttf").write_bytes(b"\x00\x01\x00\x00" + bytes(64))
        fonts += ["-attach", f"font{i}.ttf"]
    ffmpeg("-i", source.name, *fonts, "-metadata:s:t", "mimetype=font/ttf", "-map", "0",
           "-c", "copy", "fonts.mkv", cwd=tmp_path)  # fmt: skip
    assert refused(tmp_path / "fonts.mkv", tmp_path).code == "too_many_streams"


def test_a_codec_off_the_allowlist_is_unsupported_codec(tmp_path: Path) -> None:
    no_h264 = MediaLimits(codecs=tuple(c for c in DEFAULT_CODECS if c != "h264"))
    error = refused(clip(tmp_path), tmp_path, media=no_h264)
    assert error.code == "unsupported_codec"
    assert "h264" in (error.stderr_tail or "")  # ffprobe named the decoder it refused


def test_a_frame_rate_over_the_cap_is_refused(tmp_path: Path) -> None:
    fast = clip(tmp_path, "fast.mkv", rate=500)
    assert refused(fast, tmp_path, media=MediaLimits(max_fps=300.0)).code == ("frame_rate_too_high")


def test_a_playlist_is_refused_before_anything_runs(tmp_path: Path) -> None:
    clip(tmp_path)
    playlist = tmp_path / "list.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nclip.mp4\n#EXT-X-ENDLIST\n")
    assert refused(playlist, tmp_path).code == "unsupported_format"


def test_a_black_picture_goes_through(tmp_path: Path) -> None:
    """Its poster is a JPEG of 1-2 KB, which ffprobe reads as jpeg_pipe, not image2: the
    output's check must take it (it failed such jobs as unsupported_format, the input's
    fault, before; found by bench/damaged_media.py)."""
    ffmpeg("-f", "lavfi", "-i", "color=black:size=640x360:rate=25:duration=2",
           "-f", "lavfi", "-i", "sine=duration=2", "-c:v", "libx264", "-preset", "ultrafast",
           "-c:a", "aac", "black.mp4", cwd=tmp_path)  # fmt: skip
    assert run_job(tmp_path / "black.mp4", tmp_path, MP4) == (None, 1)


def test_an_ordinary_upload_still_goes_through(tmp_path: Path) -> None:
    # the guard's flags on a real MP4 and a real Matroska: probe, plan, encode all run
    for name in ("clip.mp4", "clip.mkv"):
        source = clip(tmp_path, name)
        error, transcodes = run_job(source, tmp_path / f"job-{name}", MP4)
        assert error is None
        assert transcodes == 1


# --------------------------------------------------------------------------- the guard itself


def test_the_codec_allowlist_names_every_decoder_this_build_would_pick() -> None:
    """``-codec_whitelist`` takes decoder names: for each allowed codec, every software
    decoder this ffmpeg registers for it must be on the list, or the codec would be refused."""
    listing = subprocess.run(
        ["ffmpeg", "-hide_banner", "-codecs"], capture_output=True, text=True, check=True
    ).stdout
    allowed = set(decoders(DEFAULT_CODECS))
    hardware = ("_cuvid", "_qsv", "_v4l2m2m", "_mediacodec", "_mmal", "_rkmpp")
    missing = {}
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) < 2 or not fields[0].startswith("D") or fields[1] not in DEFAULT_CODECS:
            continue
        named = re.search(r"\(decoders: ([^)]*)\)", line)
        names = named.group(1).split() if named else [fields[1]]
        soft = [n for n in names if not n.endswith(hardware)]
        if not set(soft) <= allowed:
            missing[fields[1]] = sorted(set(soft) - allowed)
    assert missing == {}


def test_ffmpeg_accepts_every_flag_of_the_guard(tmp_path: Path) -> None:
    source = clip(tmp_path)
    code = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", *SOURCE_GUARD.flags("mov"),
         "-i", f"file:{source}", "-f", "null", "-"], capture_output=True, text=True,
    )  # fmt: skip
    assert (code.returncode, code.stderr) == (0, "")


# ------------------------------------------------------------------ damaged, past the probe
# Found retried by bench/damaged_media.py: inputs the probe reads, that fail the same way on
# every delivery once encoded. Each must fail once, permanently.


def no_keyframe(tmp_path: Path) -> Path:
    """H.264 in Matroska with its one IDR picture cut out: ffprobe reads it, ffmpeg decodes no
    frame of it and still exits 0 (the audio goes through)."""
    # (in Baseline, as ultrafast makes, ffmpeg says "Error while decoding" and exits 1)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15:duration=2",
           "-f", "lavfi", "-i", "sine=duration=2:sample_rate=48000", "-c:v", "libx264",
           "-preset", "veryfast", "-g", "100", "-c:a", "aac", "gop.mkv", cwd=tmp_path)  # fmt: skip
    ffmpeg("-i", "gop.mkv", "-c", "copy", "-bsf:v", "filter_units=remove_types=5", "noidr.mkv",
           cwd=tmp_path)  # fmt: skip
    return tmp_path / "noidr.mkv"


@pytest.mark.parametrize(
    ("preset", "code", "says"),
    [
        (MP4, "invalid_media", "poster.jpg"),  # the poster is the output left unwritten
        # no storyboard tile, so no sheets to lay out (no second ffmpeg); the QC says why
        (WEB, "qc_failed", "0 thumbnails"),
    ],
    ids=["mp4", "web-hls"],
)
def test_a_picture_of_which_no_frame_decodes_fails_once(
    tmp_path: Path, preset: OutputPreset, code: str, says: str
) -> None:
    error, transcodes = run_job(no_keyframe(tmp_path), tmp_path, preset)
    assert error is not None
    assert (error.code, error.retryable, transcodes) == (code, False, 1)
    assert says in error.message


def test_a_picture_that_ends_before_its_poster_time_gives_its_last_frame(tmp_path: Path) -> None:
    """One H.264 frame beside 2 s of sound, in Matroska: the video states the file's 2 s, so
    the poster is timed 0.2 s in, past the only frame (it failed invalid_media). A ladder of
    it still fails the QC's drift check (one frame of picture against 2 s of sound)."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15", "-frames:v", "1",
           "-c:v", "libx264", "one.mp4", cwd=tmp_path)  # fmt: skip
    ffmpeg("-i", "one.mp4", "-f", "lavfi", "-i", "sine=duration=2:sample_rate=48000",
           "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "one.mkv",
           cwd=tmp_path)  # fmt: skip
    error, transcodes = run_job(tmp_path / "one.mkv", tmp_path, MP4)
    assert (error, transcodes) == (None, 1)  # the poster was read back as a picture


def test_an_audio_stream_with_no_packet_fails_once(tmp_path: Path) -> None:
    """One frame of video and an audio stream cut to nothing: ffmpeg 5.1 sets up the filter
    graph only at the end of the input, and the AAC encoder gets apad's 4096 samples before
    its own frame size is known ("more samples than frame size")."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=2",
           "-f", "lavfi", "-i", "sine=duration=2", "-frames:v", "1", "-c:v", "libx264",
           "-c:a", "aac", "silent.mkv", cwd=tmp_path)  # fmt: skip
    error, transcodes = run_job(tmp_path / "silent.mkv", tmp_path / "hls", WEB)
    assert error is not None
    assert (error.code, error.retryable, transcodes) == ("invalid_media", False, 1)
    assert "more samples than frame size" in (error.stderr_tail or "")
