"""The suite's own instruments: each hostile fixture is what its case says it is (a fixture
that quietly became harmless would make its case prove nothing), the canary sees and
attributes what reaches it, and the measuring tools record argv and memory."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.harness.fleet import wait_for
from tests.harness.tools import install_measuring_tools, read_tool_runs

from .canary import Canary
from .hostile import TEN_HOURS, MediaFixtures, flip_bits, hls_media, moov_span

pytestmark = pytest.mark.security


def probe(data: bytes, tmp_path: Path) -> dict[str, Any]:
    """ffprobe's reading of ``data``, with every demuxer allowed (what the fixture is, not
    what the worker accepts)."""
    path = tmp_path / "probe.bin"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


def test_the_png_is_16000_square_and_tiny(media: MediaFixtures, tmp_path: Path) -> None:
    for data in (media.png, media.png_mkv):
        [stream] = probe(data, tmp_path)["streams"]
        assert (stream["codec_name"], stream["width"], stream["height"]) == ("png", 16000, 16000)
        assert len(data) < 64 * 1024
    assert "matroska" in probe(media.png_mkv, tmp_path)["format"]["format_name"]


def test_the_short_clip_claims_ten_hours(media: MediaFixtures, tmp_path: Path) -> None:
    doc = probe(media.ten_hours, tmp_path)
    assert float(doc["format"]["duration"]) >= TEN_HOURS - 1
    assert all(float(s["duration"]) < 2 for s in doc["streams"])  # what it really holds


def test_forty_streams(media: MediaFixtures, tmp_path: Path) -> None:
    assert len(probe(media.many_streams, tmp_path)["streams"]) == 40


def test_the_truncated_file_has_lost_its_index(media: MediaFixtures) -> None:
    start, _ = moov_span(media.moov_last)
    assert start > len(media.moov_last) // 2  # moov at the end: the first half has none
    with pytest.raises(ValueError, match="no moov"):
        moov_span(media.moov_last[: len(media.moov_last) // 2])


def test_bit_flips_stay_inside_the_moov(media: MediaFixtures) -> None:
    start, end = moov_span(media.clip)
    flipped = flip_bits(media.clip, seed=5)
    changed = [i for i, (a, b) in enumerate(zip(media.clip, flipped, strict=True)) if a != b]
    assert changed
    assert all(start <= i < end for i in changed)
    assert flip_bits(media.clip, seed=5) == flipped


def test_the_canary_attributes_what_reaches_it(tmp_path: Path) -> None:
    with Canary(tmp_path) as canary:
        assert canary.answers()
        assert canary.secret not in hls_media([canary.url("tag1/seg.ts")]).decode()
        with urllib.request.urlopen(canary.url("tag1/seg.ts"), timeout=5) as reply:
            assert reply.read().decode() == canary.secret
        port = canary.port_for("tag2")
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # a handshake, no HTTP
        assert canary.port_for("tag2") == port
        assert [h.path for h in canary.hits_on("tag1")] == ["/tag1/seg.ts"]
        wait_for(lambda: canary.hits_on("tag2"), 5, "the connection to be recorded")
        assert canary.secret_file.read_text().strip() == canary.secret


def test_the_measuring_tools_record_argv_and_memory(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    install_measuring_tools(tmp_path / "bin", log)
    ffmpeg = str(tmp_path / "bin" / "ffmpeg")
    argv = [
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x64:duration=0.2",
        "-f",
        "null",
        "-",
    ]
    subprocess.run([ffmpeg, *argv], check=True, env={"PATH": "/usr/bin:/bin"})
    failed = subprocess.run([str(tmp_path / "bin" / "ffprobe"), "-v", "error", "nowhere"])
    [run, probe_run] = read_tool_runs(log)
    assert (run.tool, run.argv, run.status) == ("ffmpeg", tuple(argv), 0)
    assert run.maxrss_kib is not None
    assert 1024 < run.maxrss_kib < 1024**2  # KiB: more than 1 MiB, less than 1 GiB
    assert (probe_run.tool, failed.returncode != 0) == ("ffprobe", True)
    assert probe_run.status != 0
