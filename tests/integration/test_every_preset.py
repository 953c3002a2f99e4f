"""Every preset that ships in core/presets.toml completes on its defaults.

The names come from the file itself, so a preset added there is covered here without a word.
Each runs through the real pipeline (probe, plan, ffmpeg, packaging and its QC) on a short
1080p source with stereo audio, under the settings' defaults: the default media limits and
the kernel limits each ffmpeg gets (RLIMIT_AS included, as on the CPU tier in production).
What it made must then read back: every playlist of a package decodes to the end with the
codec the preset names, and an MP4 holds its video and its audio.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import m3u8
import pytest

from core.media.accel import AccelTier
from core.media.encoders import missing_encoder
from core.presets import Mp4Preset, OutputPreset, StreamingPreset
from infra.capabilities import ffmpeg_encoders
from infra.settings import Settings
from tests.hls_entries import uri_of

from .local_job import run_local
from .sources import make_source

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).parents[2] / "core" / "presets.toml"
NAMES = sorted(tomllib.loads(SHIPPED.read_text())["presets"])
CODEC_NAMES = {"libx264": "h264", "libx265": "hevc", "libsvtav1": "av1"}


@pytest.fixture(scope="module")
def defaults() -> Iterator[Settings]:
    """The settings a worker has when nothing is set (no FFAPI_* from this environment)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("FFAPI_")]:
            patch.delenv(name)
        yield Settings()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source("landscape-1080p", tmp_path_factory.mktemp("source"), seconds=3.0)


def streams(path: Path) -> list[str]:
    """codec_type:codec_name of each stream ffmpeg decodes from ``path``, after decoding all
    of it without an error."""
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-xerror", "-i", str(path), "-map", "0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert decoded.returncode == 0, decoded.stderr
    assert decoded.stderr == "", decoded.stderr
    listed = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name",
         "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return sorted(f"{kind}:{name}" for name, kind in (line.split(",") for line in listed.split()))


def check_package(preset: StreamingPreset, out: Path) -> None:
    master_path = out / ("cmaf" if preset.kind == "cmaf" else "hls") / "master.m3u8"
    master = m3u8.load(str(master_path))
    uris = [uri_of(p) for p in master.playlists] + [m.uri for m in master.media if m.uri]
    assert uris, "the master lists no playlist"
    kinds: set[str] = set()
    for uri in dict.fromkeys(uris):
        found = streams(master_path.parent / uri)
        assert found, uri
        kinds.update(found)
    video = {f"video:{CODEC_NAMES[preset.video_codec]}"} if preset.ladder else set()
    assert kinds == video | {"audio:aac"}
    if preset.ladder:  # one variant per rung the 1080p source keeps (every one, 1080p and down)
        assert len(master.playlists) == len(preset.ladder)


def check_mp4(out: Path) -> None:
    assert streams(out / "video.mp4") == ["audio:aac", "video:h264"]


@pytest.mark.parametrize("name", NAMES)
def test_every_shipped_preset_completes_on_its_defaults(
    name: str, defaults: Settings, source: Path, tmp_path: Path
) -> None:
    preset: OutputPreset = defaults.presets().presets[name]
    outcome = run_local(source, tmp_path, preset, defaults.media_limits(), defaults.ffmpeg_limits())
    assert outcome.error is None, f"{name}: {outcome.error.code}: {outcome.error.message}"
    assert outcome.result is not None
    assert outcome.result.preset == name
    if isinstance(preset, Mp4Preset):
        check_mp4(outcome.out)
    else:
        assert isinstance(preset, StreamingPreset)
        check_package(preset, outcome.out)


def test_the_worker_reads_its_ffmpegs_encoders_and_would_admit_every_preset(
    defaults: Settings,
) -> None:
    """What the worker lists at start (``ffmpeg -encoders``) has every encoder each shipped
    preset needs on the CPU tier, so none is refused here as encoder_unavailable."""
    build = asyncio.run(ffmpeg_encoders())
    assert build is not None
    assert {"libx264", "libsvtav1", "aac", "mjpeg"} <= build
    for name in NAMES:
        assert missing_encoder(defaults.presets().presets[name], AccelTier.CPU, build) is None
    assert asyncio.run(ffmpeg_encoders()) is build  # asked once per process and PATH
