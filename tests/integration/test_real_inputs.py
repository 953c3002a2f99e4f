"""Real uploads, not hostile ones: each member of the corpus (``real_media.py``: phones,
cameras, screen recorders, editors, broadcast and disc captures, music libraries) goes
through the worker's real pipeline (``local_job.py``) with the default streaming preset and
the MP4 preset, and audio with the audio-only preset too. Each completes, or is refused
with the permanent code a user can act on.

Completing is a real check: the pipeline probes every output it writes and the streaming QC
reads the package (durations, keyframes, drift). What matters per case is checked here:
the shape shown (rotation, non-square pixels), the sound kept, what is not taken as video.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.presets import OutputPreset
from tests.integration.local_job import AUDIO_ONLY, MP4, WEB, Outcome, run_local
from tests.integration.real_media import AUDIO, VIDEO

pytestmark = pytest.mark.integration

# The shape a viewer sees, which the top rendition keeps (no preset here scales these down):
# rotation applied, pixels made square.
SHOWN: dict[str, tuple[int, int]] = {
    "iphone-hevc-hlg-mov": (240, 320),  # 320x240 stored, turned to portrait
    "prores-camera-mov": (320, 180),
    "gopro-mp4": (320, 240),
    "android-av1-mp4": (240, 320),
    "phone-vfr-mp4": (320, 240),
    "matroska-multitrack": (320, 240),
    "bluray-remux-mkv": (320, 240),
    "webm-vp9-opus": (320, 240),
    "flv-h264-aac": (320, 240),
    "ogg-theora-vorbis": (320, 240),
    "avi-mjpeg-pcm": (320, 240),
    "xvid-avi-321x241": (320, 240),  # even sides, never past the source's
    "obs-utvideo-avi": (320, 240),
    "qtrle-animation-mov": (320, 240),
    "dvb-s-mpeg2-ts": (1024, 576),  # 720x576 at 64:45 is 16:9
    "dvb-t2-teletext-scte35-ts": (320, 180),
    "avchd-m2ts": (320, 240),
    "minidv-dv": (768, 576),  # 720x576 at 16:15 is 4:3
    "dvd-vob": (640, 480),  # 720x480 at 8:9 is 4:3
    "vcd-mpg": (352, 288),
    "mxf-xdcam": (1024, 576),
    "mxf-dnxhr": (320, 240),
}
# Refusing is right: legacy decoders are off the codec list on purpose (core/media/hardening.py),
# and the message names the decoder, so the uploader knows what to re-encode.
REFUSED: dict[str, tuple[str, str]] = {
    "asf-wmv2-wma2": ("unsupported_codec", "decoder wmv2"),
    "flash-flv1-mp3": ("unsupported_codec", "decoder flv"),
}
assert set(SHOWN) | set(REFUSED) == set(VIDEO)
# Fields shot 1/50 s apart (real interlacing, not only the flag): the outputs are frames.
INTERLACED = ("dvb-s-mpeg2-ts", "dvd-vob", "minidv-dv")
HDR = ("iphone-hevc-hlg-mov",)  # HLG: every output is tone-mapped to SDR BT.709

CASES = [
    *((name, preset) for name in VIDEO for preset in (WEB, MP4)),
    *((name, preset) for name in AUDIO for preset in (WEB, MP4, AUDIO_ONLY)),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Each member made once for the module, when a test first asks for it."""
    made: dict[str, Path] = {}
    makers = {**VIDEO, **AUDIO}

    def member(name: str) -> Path:
        if name not in made:
            made[name] = makers[name](tmp_path_factory.mktemp(name))
        return made[name]

    return member


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
         str(path)], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    doc: dict[str, Any] = json.loads(out)
    return doc


def kinds(doc: dict[str, Any]) -> list[str]:
    return [s["codec_type"] for s in doc["streams"]]


def resolutions(master: Path) -> list[tuple[int, int]]:
    """Each variant's RESOLUTION in the HLS master playlist, in order (the top rung first)."""
    found = []
    for line in master.read_text().splitlines():
        for attr in line.split(","):
            if attr.startswith("RESOLUTION="):
                w, h = attr.removeprefix("RESOLUTION=").split("x")
                found.append((int(w), int(h)))
    return found


@pytest.mark.parametrize(
    ("name", "preset"), CASES, ids=[f"{name}-{preset.name}" for name, preset in CASES]
)
def test_a_real_upload_completes_or_is_refused_with_a_reason(
    corpus: Callable[[str], Path], tmp_path: Path, name: str, preset: OutputPreset
) -> None:
    outcome = run_local(corpus(name), tmp_path, preset)
    if name in REFUSED:
        code, says = REFUSED[name]
        refused(outcome, code, says)
    elif name in AUDIO and preset is MP4:
        # an MP4 is a picture with its sound; cover art is not a picture to encode
        refused(outcome, "unsupported_media", "needs a video stream")
    else:
        assert outcome.error is None, (
            f"{outcome.error!r}: {outcome.error and outcome.error.stderr_tail}"
        )
        check = CHECKS.get(preset.name)
        assert check is not None
        check(name, outcome)


def refused(outcome: Outcome, code: str, says: str) -> None:
    error = outcome.error
    assert error is not None
    assert (error.code, error.retryable, outcome.transcodes) == (code, False, 0)
    assert says in error.message


def check_mp4(name: str, outcome: Outcome) -> None:
    doc = ffprobe(outcome.out / "video.mp4")
    assert kinds(doc) == ["video", "audio"]  # one picture, one sound: no tracks, subtitles
    video, audio = doc["streams"]
    assert (video["width"], video["height"]) == SHOWN[name]
    assert video.get("sample_aspect_ratio", "1:1") == "1:1"
    assert audio["channels"] == 2  # 4.0 PCM and mono tracks alike
    assert abs(float(doc["format"]["duration"]) - 1.5) < 0.2
    if name in INTERLACED:
        assert_not_combed(outcome.out / "video.mp4")
    if name in HDR:
        assert video["color_transfer"] == "bt709"


def check_streaming(name: str, outcome: Outcome) -> None:
    master = outcome.out / "cmaf" / "master.m3u8"
    if name in AUDIO:
        # the cover art is not taken as a picture: sound only, no thumbnails
        assert resolutions(master) == []
        assert not any("/thumbnails/" in key for key in outcome.published)
    else:
        assert resolutions(master)[0] == SHOWN[name]
    if name in HDR:
        [rung] = ffprobe(outcome.out / "cmaf" / "init-0.m4s")["streams"]
        assert rung["color_transfer"] == "bt709"
    if name in INTERLACED:  # the top rung: its init segment and media segments, joined
        cmaf = outcome.out / "cmaf"
        top = outcome.out / "top-rung.mp4"
        parts = [cmaf / "init-0.m4s", *sorted(cmaf.glob("seg-0-*.m4s"))]
        top.write_bytes(b"".join(part.read_bytes() for part in parts))
        assert_not_combed(top)
    probe_json = next(v for k, v in outcome.bodies.items() if k.endswith("/probe.json"))
    assert b"37.3349" not in probe_json  # an iPhone's position is not published


def assert_not_combed(video: Path) -> None:
    """ffmpeg's idet (interlace detection) over the whole picture: interlaced frames comb
    where anything moves; a deinterlaced picture reads as progressive (idet's first few
    frames are undecided)."""
    stderr = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(video), "-map", "0:v", "-vf", "idet",
         "-f", "null", "-"], capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    found = re.search(
        r"Multi frame detection: TFF:\s*(\d+) BFF:\s*(\d+) Progressive:\s*(\d+)", stderr
    )
    assert found is not None, stderr
    tff, bff, progressive = map(int, found.groups())
    assert progressive >= 4 * (tff + bff), (
        f"combed: {tff} TFF, {bff} BFF, {progressive} progressive"
    )


def check_audio_only(name: str, outcome: Outcome) -> None:
    variants = [
        line
        for line in (outcome.out / "cmaf" / "master.m3u8").read_text().splitlines()
        if line.startswith("#EXT-X-STREAM-INF:")
    ]
    # the preset's two AAC renditions, and no picture (the cover art is not one)
    assert len(variants) == 2
    assert all('CODECS="mp4a.40.2"' in v and "RESOLUTION" not in v for v in variants)


CHECKS: dict[str, Callable[[str, Outcome], None]] = {
    WEB.name: check_streaming,
    MP4.name: check_mp4,
    AUDIO_ONLY.name: check_audio_only,
}
