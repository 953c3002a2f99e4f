"""Adaptive streaming end to end: generated sources -> S3 -> worker -> ffmpeg -> S3.

Each package is checked from the outside, as a player or a validator would: both manifests
are parsed with parsers that are not the worker's own readers (``m3u8`` for HLS, ``mpegdash``
for DASH), every referenced object is fetched from the bucket, the decoded sizes match the
plan, segments have the target length, keyframes align across rungs at segment starts, and
ffmpeg plays the published ``master.m3u8`` from a local copy end to end.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from core.media.probe import ProbeResult, parse_probe
from core.media.probe_doc import probe_doc
from core.presets import StreamingPreset, builtin_catalog
from core.streaming.renditions import StreamingPlan, plan_streaming
from handlers.watcher import TERMINAL_TYPES
from tests.hls_entries import uri_of

from .conftest import Stack, run_worker
from .sources import make_source, probe_streams

pytestmark = pytest.mark.integration
SECONDS = 9.0  # three 4 s segments: two whole ones and a short last one
CACHE = {
    ".m4s": "immutable",
    ".ts": "immutable",
    ".jpg": "immutable",
    ".m3u8": "max-age=60",
    ".mpd": "max-age=60",
    ".vtt": "max-age=60",
}
TYPES = {".m4s": "video/iso.segment", ".ts": "video/mp2t", ".jpg": "image/jpeg",
         ".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml",
         ".vtt": "text/vtt"}  # fmt: skip


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Generated sources, each made once per session when a test first asks for it."""
    folder, made = tmp_path_factory.mktemp("sources"), {}

    def clip(kind: str) -> Path:
        if kind not in made:
            made[kind] = make_source(kind, folder, SECONDS)
        return made[kind]

    return clip


@dataclass
class Published:
    event: dict[str, Any]
    data: dict[str, Any]
    prefix: str
    local: Path  # a copy of every object under the job's prefix
    heads: dict[str, dict[str, Any]]  # path under the prefix -> HeadObject


def publish(stack: Stack, clip: Path, preset: str, tmp: Path) -> Published:
    s3, settings = stack.client("s3"), stack.settings.model_copy(update={"preset": preset})
    s3.upload_file(str(clip), settings.input_bucket, f"{settings.watch_prefix}{clip.name}")
    scenario = run_worker(stack, settings=settings, timeout=300)
    (event,) = [e for e in scenario.events if e["type"] in TERMINAL_TYPES]
    assert event["type"] == "ffapi.job.completed", event["data"].get("error")
    prefix = f"{settings.output_prefix}/{event['subject']}/"
    listing = s3.list_objects_v2(Bucket=settings.output_bucket, Prefix=prefix)["Contents"]
    local, heads = tmp / "published", {}
    for obj in listing:
        rel = obj["Key"].removeprefix(prefix)
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(settings.output_bucket, obj["Key"], str(local / rel))
        heads[rel] = s3.head_object(Bucket=settings.output_bucket, Key=obj["Key"])
    return Published(event, event["data"], prefix, local, heads)


def expected_plan(clip: Path, preset: str) -> tuple[StreamingPlan, ProbeResult]:
    spec = builtin_catalog().presets[preset]
    assert isinstance(spec, StreamingPreset)
    probe = parse_probe(probe_doc(probe_streams(clip)))
    return plan_streaming(spec, probe, PurePosixPath("s"), PurePosixPath("o")), probe


def hls_files(pub: Published, master_rel: str) -> tuple[Any, dict[str, Any]]:
    """The master and each media playlist, parsed with the m3u8 library."""
    package = (pub.local / master_rel).parent
    master = m3u8.load(str(pub.local / master_rel))
    uris = [uri_of(p) for p in master.playlists] + [m.uri for m in master.media if m.uri]
    return master, {uri: m3u8.load(str(package / uri)) for uri in dict.fromkeys(uris)}


def dash_files(mpd_path: Path) -> dict[str, tuple[list[str], list[float], Any]]:
    """Representation id -> (files named by its SegmentTemplate, segment seconds, rep)."""
    mpd = MPEGDASHParser.parse(str(mpd_path))
    reps = {}
    for aset in mpd.periods[0].adaptation_sets:
        for rep in aset.representations:
            tpl = rep.segment_templates[0]
            seconds, number = [], tpl.start_number or 1
            for s in tpl.segment_timelines[0].Ss:
                seconds += [s.d / tpl.timescale] * ((s.r or 0) + 1)
            names = [tpl.initialization.replace("$RepresentationID$", rep.id)]
            media = tpl.media.replace("$RepresentationID$", rep.id)
            names += [
                media.replace("$Number%05d$", f"{number + i:05d}") for i in range(len(seconds))
            ]
            reps[rep.id] = (names, seconds, rep)
    return reps


def packets(path: Path, stream: str = "v:0") -> list[tuple[float, bool]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries",
         "packet=pts_time,flags", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = [line.split(",") for line in out.split()]
    return [(float(pts), flags.startswith("K")) for pts, flags, *_ in rows]


def joined(folder: Path, names: list[str], dest: Path) -> Path:
    with dest.open("wb") as out:
        for name in names:
            out.write((folder / name).read_bytes())
    return dest


def check_headers(pub: Published) -> None:
    for rel, head in pub.heads.items():
        suffix = PurePosixPath(rel).suffix
        if suffix in TYPES:
            assert head["ContentType"] == TYPES[suffix], rel
            assert CACHE[suffix] in head["CacheControl"], rel
    assert pub.heads["job.json"]["CacheControl"] == "no-cache"


def check_plays(manifest: Path) -> None:
    """ffmpeg reads the whole package back through a manifest (its dash demuxer needs an
    absolute path)."""
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(manifest.resolve()), "-map", "0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def check_cmaf(pub: Published, clip: Path, preset: str, tmp: Path) -> None:
    plan, _probe = expected_plan(clip, preset)
    package = pub.local / "cmaf"
    master, medias = hls_files(pub, "cmaf/master.m3u8")
    dash = dash_files(package / "manifest.mpd")
    assert master.is_independent_segments
    # The same files behind both manifests, every one of them published.
    hls_sets = sorted(
        ([p.segment_map[0].uri] if p.segment_map else []) + [s.uri for s in p.segments]
        for p in medias.values()
    )
    assert hls_sets == sorted(names for names, _, _ in dash.values())
    for names in hls_sets:
        assert all(f"cmaf/{n}" in pub.heads for n in names)
    for playlist in medias.values():
        assert playlist.playlist_type == "vod"
        assert playlist.is_independent_segments
        assert playlist.is_endlist
        assert all(s.program_date_time is None for s in playlist.segments)
        lengths = [s.duration for s in playlist.segments]
        assert all(abs(d - plan.segment_seconds) <= 0.1 for d in lengths[:-1]), lengths
        assert 0 < lengths[-1] <= plan.segment_seconds + 0.1
        assert abs(sum(lengths) - SECONDS) <= plan.segment_seconds
    # Rendition sizes as planned: in the master, the MPD and the decoded picture.
    planned = [(v.width, v.height) for v in plan.video]
    assert [tuple(p.stream_info.resolution) for p in master.playlists if plan.video] == planned
    video_reps = [r for _, _, r in dash.values() if r.width]
    assert [(r.width, r.height) for r in video_reps] == planned
    starts = []
    for i, (width, height) in enumerate(planned):
        names, seconds, _ = dash[str(i)]
        file = joined(package, names, tmp / f"rung{i}.mp4")
        stream = probe_streams(file)["streams"][0]
        assert (stream["width"], stream["height"]) == (width, height)
        assert stream["pix_fmt"] == "yuv420p"
        keys = [pts for pts, key in packets(file) if key]
        boundaries = [sum(seconds[:n]) for n in range(len(seconds))]
        assert all(any(abs(k - b) < 0.02 for k in keys) for b in boundaries), (keys, boundaries)
        starts.append(keys)
    assert all(keys == starts[0] for keys in starts), "keyframes align across rungs"
    check_headers(pub)
    check_plays(package / "master.m3u8")
    check_plays(package / "manifest.mpd")
    assert pub.data["qc"]["passed"]
    assert pub.data["playback"] == {
        "hls": pub.prefix + "cmaf/master.m3u8",
        "dash": pub.prefix + "cmaf/manifest.mpd",
    }
    assert json.loads((pub.local / "job.json").read_text()) == pub.data


CASES = {
    "landscape-1080p": [(1920, 1080), (1280, 720), (864, 486), (640, 360)],
    "hd-720p": [(1280, 720), (864, 486), (640, 360)],
    "portrait-rotated": [(720, 1280), (486, 864), (360, 640)],
    "odd-1279x719": [(1248, 702), (864, 486), (640, 360)],
    "ten-bit": [(1920, 1080), (1280, 720), (864, 486), (640, 360)],
    "no-audio": [(1280, 720), (864, 486), (640, 360)],
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_web_hls_package(
    stack: Stack, clips: Callable[[str], Path], tmp_path: Path, kind: str
) -> None:
    clip = clips(kind)
    pub = publish(stack, clip, "web-hls", tmp_path)
    check_cmaf(pub, clip, "web-hls", tmp_path)
    videos = [r for r in pub.data["renditions"] if r["kind"] == "video"]
    assert [(r["width"], r["height"]) for r in videos] == CASES[kind]
    audio = [r for r in pub.data["renditions"] if r["kind"] == "audio"]
    assert len(audio) == (0 if kind == "no-audio" else 1)
    if kind == "ten-bit":
        assert any("tone-mapped" in note for note in pub.data["notes"])
    thumbs = sorted(p for p in pub.heads if p.startswith("thumbnails/thumb-"))
    assert len(thumbs) == 1  # one every 10 s, from the first frame
    vtt = (pub.local / "thumbnails" / "storyboard.vtt").read_text().splitlines()
    assert vtt[0] == "WEBVTT"
    assert sum("-->" in line for line in vtt) == 2  # a tile every 5 s of 9 s


def test_audio_only_source_makes_an_audio_only_package(
    stack: Stack, clips: Callable[[str], Path], tmp_path: Path
) -> None:
    clip = clips("audio-only")
    pub = publish(stack, clip, "web-hls", tmp_path)
    master, _medias = hls_files(pub, "cmaf/master.m3u8")
    assert all(p.stream_info.resolution is None for p in master.playlists)
    assert all(
        "mp4a" in p.stream_info.codecs and "avc1" not in p.stream_info.codecs
        for p in master.playlists
    )
    dash = dash_files(pub.local / "cmaf" / "manifest.mpd")
    assert len(dash) == 1
    assert all(r.width is None for _, _, r in dash.values())
    assert [r["kind"] for r in pub.data["renditions"]] == ["audio"]
    assert not any(p.startswith("thumbnails/") for p in pub.heads)
    check_headers(pub)
    check_plays(pub.local / "cmaf" / "master.m3u8")


def test_hls_ts_package_for_old_players(
    stack: Stack, clips: Callable[[str], Path], tmp_path: Path
) -> None:
    clip = clips("hd-720p")
    pub = publish(stack, clip, "hls-ts", tmp_path)
    master, medias = hls_files(pub, "hls/master.m3u8")
    assert master.is_independent_segments
    assert [tuple(p.stream_info.resolution) for p in master.playlists] == [
        (1280, 720),
        (864, 486),
        (640, 360),
    ]
    for uri, playlist in medias.items():
        assert playlist.playlist_type == "vod"
        assert all(s.uri.endswith(".ts") and f"hls/{s.uri}" in pub.heads for s in playlist.segments)
        first = joined(pub.local / "hls", [s.uri for s in playlist.segments], tmp_path / "a.ts")
        assert packets(first, "a:0"), f"{uri} carries its audio"
    assert "dash" not in pub.data["playback"]
    check_headers(pub)
    check_plays(pub.local / "hls" / "master.m3u8")


def test_audio_only_preset_ignores_the_picture(
    stack: Stack, clips: Callable[[str], Path], tmp_path: Path
) -> None:
    clip = clips("hd-720p")
    pub = publish(stack, clip, "audio-only", tmp_path)
    rates = sorted(r["bitrate_kbps"] for r in pub.data["renditions"])
    assert rates == [64, 128]
    assert all(r["kind"] == "audio" for r in pub.data["renditions"])
    check_plays(pub.local / "cmaf" / "master.m3u8")
