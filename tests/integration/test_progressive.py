"""Progressive jobs end to end (real ffmpeg, moto over HTTP): ``job.playable`` comes before
``job.completed``; when it comes, the bucket holds a master playlist and media playlists of
type ``EVENT`` (no ``ENDLIST``) whose segments and inits are all there, and (web-hls) a dynamic
MPD; after the completion the playlists are VOD with ``ENDLIST`` and the MPD static. A job
that fails after playable leaves them EVENT, its master and MPD marked failed, its segments
in place, and says ``package: "partial"``.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import m3u8
import pytest

from core.errors import QcFailed
from core.streaming.packaging import StreamingPackager
from core.streaming.progressive import FAILED_NOTE
from handlers.runtime import open_runtime
from handlers.watcher import TERMINAL_TYPES, EventWatcher
from handlers.worker import Worker
from infra.ffmpeg import make_sample_clip
from tests.event_contract import check_event

from .conftest import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 s at 640x360: six segments, a few seconds of encode after the first lands."""
    path = tmp_path_factory.mktemp("media") / "long.mp4"
    return asyncio.run(make_sample_clip(path, seconds=24, width=640, height=360))


def _bucket(stack: Stack, bucket: str, prefix: str) -> dict[str, Any]:
    s3 = stack.client("s3")
    found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: o for o in found}


def _text(stack: Stack, bucket: str, key: str) -> tuple[str, str]:
    """The object's text and its Cache-Control."""
    got = stack.client("s3").get_object(Bucket=bucket, Key=key)
    return got["Body"].read().decode(), got.get("CacheControl", "")


def _snapshot(stack: Stack, playable: dict[str, Any]) -> dict[str, Any]:
    """What a player finds in the bucket when it is told the package is playable."""
    bucket = playable["data"]["output"]["bucket"]
    master_key = playable["data"]["playback"]["hls"]
    base = posixpath.dirname(master_key)
    keys = _bucket(stack, bucket, base)
    master_text, master_cache = _text(stack, bucket, master_key)
    master = m3u8.loads(master_text)
    uris = [p.uri for p in master.playlists] + [m.uri for m in master.media if m.uri]
    medias = {uri: _text(stack, bucket, f"{base}/{uri}") for uri in uris}
    dash = playable["data"]["playback"].get("dash")
    mpd, mpd_cache = _text(stack, bucket, dash) if dash else ("", "")
    return {
        "keys": keys, "base": base, "master_cache": master_cache, "medias": medias,
        "mpd": mpd, "mpd_cache": mpd_cache,
    }  # fmt: skip


async def _run(stack: Stack, body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    snapshot: dict[str, Any] = {}
    async with open_runtime(stack.settings) as rt:
        clients = rt.clients
        async with EventWatcher.subscribe(clients.sqs, clients.sns, stack.resources.topic_arn) as w:
            await clients.sqs.send_message(
                QueueUrl=stack.resources.queue_url, MessageBody=json.dumps(body)
            )
            stop = asyncio.Event()
            worker = asyncio.create_task(Worker(rt).run(stop))
            try:
                async with asyncio.timeout(180):
                    while not any(json.loads(b)["type"] in TERMINAL_TYPES for b in w.received):
                        await w.poll(wait_seconds=1)
                        playable = [json.loads(b) for b in w.received if "playable" in b]
                        if playable and not snapshot:
                            snapshot = await asyncio.to_thread(_snapshot, stack, playable[0])
            finally:
                stop.set()
                await worker
            events = [check_event(b) for b in w.received]
    return events, snapshot


def _progressive_job(
    stack: Stack, clip: Path, preset: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    settings = stack.settings
    stack.client("s3").upload_file(str(clip), settings.input_bucket, "library/long.mp4")
    body = {
        "version": 2,
        "input": {"bucket": settings.input_bucket, "key": "library/long.mp4"},
        "preset": preset,
        "progressive": True,
    }
    return asyncio.run(_run(stack, body))


def _check_growing(seen: dict[str, Any], playlists: int = 2) -> None:
    """When playable was said: EVENT playlists whose every segment is in the bucket
    (``playlists``: a video rung and the audio; one, audio muxed, for hls-ts)."""
    assert seen, "the job completed before its playable event was read"
    assert "no-cache" in seen["master_cache"]
    assert len(seen["medias"]) >= playlists
    for uri, (text, cache) in seen["medias"].items():
        media = m3u8.loads(text)
        assert media.playlist_type == "event", uri
        assert not media.is_endlist, uri
        assert "no-cache" in cache
        assert media.segments, uri
        named = [str(s.uri) for s in media.segments] + [str(m.uri) for m in media.segment_map]
        for name in named:
            key = f"{seen['base']}/{posixpath.join(posixpath.dirname(uri), name)}"
            assert key in seen["keys"], (uri, name)


def _check_final(stack: Stack, seen: dict[str, Any], bucket: str) -> None:
    """Completed: VOD with ENDLIST, today's headers."""
    for uri in seen["medias"]:
        text, cache = _text(stack, bucket, f"{seen['base']}/{uri}")
        final = m3u8.loads(text)
        assert final.playlist_type == "vod", uri
        assert final.is_endlist, uri
        assert len(final.segments) >= len(m3u8.loads(seen["medias"][uri][0]).segments)
        assert "max-age=60" in cache


def test_an_hls_ts_job_grows_as_it_encodes(stack: Stack, long_clip: Path) -> None:
    events, seen = _progressive_job(stack, long_clip, "hls-ts")

    types = [e["type"] for e in events if e["type"] != "ffapi.job.progress"]
    assert types[-2:] == ["ffapi.job.playable", "ffapi.job.completed"]
    [completed] = [e for e in events if e["type"] == "ffapi.job.completed"]
    assert list(completed["data"]["playback"]) == ["hls"]
    _check_growing(seen, playlists=1)
    _check_final(stack, seen, completed["data"]["output"]["bucket"])


def test_a_progressive_job_is_playable_before_it_completes(stack: Stack, long_clip: Path) -> None:
    events, seen = _progressive_job(stack, long_clip, "web-hls")

    types = [e["type"] for e in events if e["type"] != "ffapi.job.progress"]
    assert types == [
        "ffapi.job.received", "ffapi.job.started", "ffapi.job.playable", "ffapi.job.completed",
    ]  # fmt: skip
    [playable] = [e for e in events if e["type"] == "ffapi.job.playable"]
    [completed] = [e for e in events if e["type"] == "ffapi.job.completed"]
    assert playable["data"]["playback"] == completed["data"]["playback"]
    assert playable["data"]["attempt"] == 1
    assert playable["data"]["seconds"] > 0
    _check_growing(seen)
    mpd = ET.fromstring(seen["mpd"])
    assert mpd.get("type") == "dynamic"
    assert mpd.get("availabilityStartTime")
    assert mpd.get("publishTime")
    assert "no-cache" in seen["mpd_cache"]
    _check_final(stack, seen, completed["data"]["output"]["bucket"])
    bucket = completed["data"]["output"]["bucket"]
    final_mpd, _ = _text(stack, bucket, completed["data"]["playback"]["dash"])
    assert ET.fromstring(final_mpd).get("type") == "static"


def test_a_job_failing_after_playable_leaves_its_package_marked_failed(
    stack: Stack, long_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail_after_encode(*_: object, **__: object) -> None:
        raise QcFailed("package failed QC: forced by the test")

    monkeypatch.setattr(StreamingPackager, "finish", fail_after_encode)

    events, seen = _progressive_job(stack, long_clip, "web-hls")

    types = [e["type"] for e in events if e["type"] != "ffapi.job.progress"]
    assert types[-2:] == ["ffapi.job.playable", "ffapi.job.failed"]
    [failed] = [e for e in events if e["type"] == "ffapi.job.failed"]
    assert failed["data"]["package"] == "partial"
    assert failed["data"]["error"]["code"] == "qc_failed"
    bucket = failed["data"]["output"]["bucket"]
    master, _ = _text(stack, bucket, f"{seen['base']}/master.m3u8")
    assert FAILED_NOTE in master
    mpd, _ = _text(stack, bucket, f"{seen['base']}/manifest.mpd")
    assert FAILED_NOTE in mpd
    keys = _bucket(stack, bucket, seen["base"])
    for uri in seen["medias"]:
        media = m3u8.loads(_text(stack, bucket, f"{seen['base']}/{uri}")[0])
        assert media.playlist_type == "event", uri  # a stalled live stream, never VOD
        assert not media.is_endlist, uri
        for segment in media.segments:  # kept: a player may be playing them
            assert f"{seen['base']}/{segment.uri}" in keys
    assert not any(key.endswith("/job.json") for key in keys)
