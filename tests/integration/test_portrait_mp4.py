"""MP4 presets on portrait sources, through the real pipeline: fitted by the short side as the
ladders are (mp4-480p makes a portrait clip 480 wide, not 480 tall), and the poster has the
video's shape. Each output is decoded by the real ffprobe/ffmpeg to read its size."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from core.presets import builtin_catalog
from tests.integration.local_job import ffmpeg, run_local
from tests.integration.sources import make_source

pytestmark = pytest.mark.integration

MP4_480 = builtin_catalog().presets["mp4-480p"]


def displayed(path: Path) -> tuple[int, int]:
    """The size a player shows: the decoded frame's, turned by any rotation the file carries."""
    doc = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json",
         str(path)], capture_output=True, text=True, check=True,
    ).stdout)["streams"][0]  # fmt: skip
    rotation = {int(side.get("rotation", 0)) for side in doc.get("side_data_list", [])}
    width, height = doc["width"], doc["height"]
    return (height, width) if rotation & {90, -90, 270, -270} else (width, height)


def decodes(path: Path) -> None:
    result = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def portrait_1080x1920(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1080x1920:rate=30:duration=2",
           "-c:v", "libx264", "-preset", "ultrafast", "portrait.mp4", cwd=tmp_path)  # fmt: skip
    return tmp_path / "portrait.mp4"


def rotated_landscape(tmp_path: Path) -> Path:
    """1280x720 samples with a rotate=90 tag: a phone's portrait clip, 720x1280 on screen."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    flat = make_source("hd-720p", tmp_path, seconds=2)
    ffmpeg("-i", flat.name, "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=90",
           "rotated.mp4", cwd=tmp_path)  # fmt: skip
    assert displayed(tmp_path / "rotated.mp4") == (720, 1280)
    return tmp_path / "rotated.mp4"


@pytest.mark.parametrize(
    ("make", "video", "poster"),
    [
        (portrait_1080x1920, (480, 854), (360, 640)),
        (rotated_landscape, (480, 854), (360, 640)),
        (lambda tmp: make_source("landscape-1080p", tmp, seconds=2), (854, 480), (640, 360)),
    ],
    ids=["portrait-1080x1920", "rotate-90", "landscape-1080p"],
)
def test_mp4_480p_fits_the_short_side_and_its_poster_the_videos_shape(
    make: object, video: tuple[int, int], poster: tuple[int, int], tmp_path: Path
) -> None:
    assert callable(make)
    source = make(tmp_path / "src")
    outcome = run_local(source, tmp_path, MP4_480)
    assert outcome.error is None, outcome.error
    assert outcome.result is not None
    decodes(outcome.out / "video.mp4")
    assert displayed(outcome.out / "video.mp4") == video
    assert displayed(outcome.out / "poster.jpg") == poster
