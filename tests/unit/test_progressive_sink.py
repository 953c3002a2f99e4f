"""core.streaming.progressive_sink and core.attempt.progressive_run: the growing package in the
bucket as segments land (a package directory on disk, an in-memory bucket, uploads held back at
will): nothing published and nothing announced before every rung's first segment is uploaded;
playable said once, when the master, EVENT playlists, inits and segments are all there; a
failure after it leaves the package marked failed and its segments, one before withdraws it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import m3u8
import pytest

from core.attempt.progressive_run import after_failure, is_progressive, progressive_sink
from core.attempt.upload import UploadAhead
from core.errors import FfapiError, QcFailed, StorageUnavailable
from core.events.playable import PlayableNotice
from core.models import JobRequest, OutputLocation, S3ObjectRef
from core.presets import StreamingPreset, builtin_catalog
from core.streaming.progressive import FAILED_NOTE
from core.streaming.progressive_sink import GrowingLayout, ProgressiveSink
from core.streaming.segment_watch import LandedSegment
from infra.memory_objects import MemoryObjectStore
from infra.workspace import LocalDiskFiles
from tests.unit.test_progressive import GROWING_MPD

OUT = OutputLocation(bucket="out-bucket", prefix="outputs")
JOB = "j-" + "1" * 24
KEY = f"outputs/{JOB}/cmaf"
START = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_A1",NAME="audio_2",DEFAULT=YES,URI="media_2.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=839722,RESOLUTION=640x360,AUDIO="group_A1"
media_0.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=241000,RESOLUTION=320x180,AUDIO="group_A1"
media_1.m3u8
"""


def web() -> StreamingPreset:
    preset = builtin_catalog().presets["web-hls"]
    assert isinstance(preset, StreamingPreset)
    return preset


class HeldUploads:
    """The upload ahead: each segment put in the bucket when let go (all at once by default)."""

    def __init__(self, store: MemoryObjectStore, local: Path) -> None:
        self.store, self.local = store, local
        self.go = asyncio.Event()
        self.go.set()
        self.fail: Exception | None = None

    async def delivered(self, paths: Iterable[str]) -> None:
        await self.go.wait()
        if self.fail is not None:
            raise self.fail
        for path in paths:
            data = (self.local / path).read_bytes()
            await self.store.put_bytes(data, OUT.bucket, f"outputs/{JOB}/{path}", "video/mp4", None)


class Package:
    """A package directory as ffmpeg leaves it while it encodes, and the sink publishing it."""

    def __init__(self, tmp_path: Path) -> None:
        self.local = tmp_path
        (tmp_path / "cmaf").mkdir()
        for name, text in {"master.m3u8": MASTER, "manifest.mpd": GROWING_MPD}.items():
            (tmp_path / "cmaf" / name).write_text(text)
        for rep in (0, 1, 2):
            (tmp_path / "cmaf" / f"init-{rep}.m4s").write_bytes(b"init")
        self.store = MemoryObjectStore()
        self.uploads = HeldUploads(self.store, tmp_path)
        self.said: list[dict[str, bool]] = []  # what the bucket held at each announcement
        self.sink = ProgressiveSink(
            self.store, LocalDiskFiles(), self.uploads, tmp_path, OUT, JOB,
            GrowingLayout.of(web()), self.announced, lambda: datetime.now(UTC),
            sleep=lambda _: asyncio.sleep(0), interval=0.0,
        )  # fmt: skip
        self.counts = {0: 0, 1: 0, 2: 0}

    def segment(self, rep: int) -> LandedSegment:
        n = self.counts[rep]
        self.counts[rep] += 1
        path = f"cmaf/seg-{rep}-{n + 1:05d}.m4s"
        (self.local / path).write_bytes(b"media")
        return LandedSegment(f"cmaf/media_{rep}.m3u8", path, f"cmaf/init-{rep}.m4s", n,
                             4.0 * n, 4.0, 5)  # fmt: skip

    def key(self, name: str) -> str:
        return f"{KEY}/{name}"

    def text(self, name: str) -> str | None:
        stored = self.store.stored(OUT.bucket, self.key(name))
        return stored.data.decode() if stored else None

    def announced(self) -> None:
        """At playable: is every playlist EVENT and every name in it there?"""
        state = {"master": self.text("master.m3u8") is not None}
        for rep in (0, 1, 2):
            text = self.text(f"media_{rep}.m3u8")
            doc = m3u8.loads(text or "#EXTM3U\n")
            names = [str(s.uri) for s in doc.segments] + [str(m.uri) for m in doc.segment_map]
            state[f"media_{rep}"] = (
                text is not None and doc.playlist_type == "event" and not doc.is_endlist
                and bool(doc.segments)
                and all(self.text(n) is not None or self.has(n) for n in names)
            )  # fmt: skip
        self.said.append(state)

    def has(self, name: str) -> bool:
        return self.store.stored(OUT.bucket, self.key(name)) is not None


async def settle() -> None:
    """Let the sink's background publication run (its files are read in threads)."""
    await asyncio.sleep(0.3)


def test_playable_is_said_once_when_every_rung_has_a_segment_in_the_bucket(
    tmp_path: Path,
) -> None:
    p = Package(tmp_path)

    async def go() -> None:
        await p.sink.landed([p.segment(0), p.segment(1)])
        await settle()
        assert p.said == []
        assert not p.has("master.m3u8")
        p.uploads.go.clear()
        await p.sink.landed([p.segment(2)])
        await settle()
        assert p.said == []  # landed, not uploaded
        p.uploads.go.set()
        await settle()
        assert p.said == [{"master": True, "media_0": True, "media_1": True, "media_2": True}]
        for _ in range(2):
            await p.sink.landed([p.segment(0), p.segment(1), p.segment(2)])
            await settle()
        await p.sink.close()

    asyncio.run(go())
    assert len(p.said) == 1
    assert p.sink.playable
    for rep in (0, 1, 2):
        doc = m3u8.loads(p.text(f"media_{rep}.m3u8") or "")
        assert len(doc.segments) == 3  # grown
        assert doc.playlist_type == "event"
        assert not doc.is_endlist
    stored = p.store.stored(OUT.bucket, p.key("media_0.m3u8"))
    assert stored is not None
    assert stored.cache_control == "no-cache"
    init = p.store.stored(OUT.bucket, p.key("init-0.m4s"))
    assert init is not None
    assert init.cache_control == "no-cache"
    mpd = p.text("manifest.mpd") or ""
    assert 'type="dynamic"' in mpd


def test_an_upload_that_fails_is_the_jobs_failure(tmp_path: Path) -> None:
    p = Package(tmp_path)
    p.uploads.fail = StorageUnavailable("s3: 503")

    async def go() -> None:
        await p.sink.landed([p.segment(0)])
        await settle()
        with pytest.raises(StorageUnavailable):
            await p.sink.landed([p.segment(1)])
        with pytest.raises(StorageUnavailable):
            await p.sink.close()

    asyncio.run(go())
    assert p.said == []


def test_a_short_encode_is_published_and_said_on_close(tmp_path: Path) -> None:
    p = Package(tmp_path)

    async def go() -> None:
        p.uploads.go.clear()
        await p.sink.landed([p.segment(0), p.segment(1), p.segment(2)])
        p.uploads.go.set()
        await p.sink.close()

    asyncio.run(go())
    assert len(p.said) == 1
    assert all(p.said[0].values())


def ahead(p: Package) -> UploadAhead:
    return UploadAhead(p.store, 2, p.local, OUT, JOB)


def test_a_failure_after_playable_keeps_the_package_marked_failed(tmp_path: Path) -> None:
    p = Package(tmp_path)

    async def go() -> FfapiError | None:
        await p.sink.landed([p.segment(0), p.segment(1), p.segment(2)])
        await p.sink.landed([p.segment(0), p.segment(1), p.segment(2)])
        await settle()
        assert p.sink.playable

        async def not_committed() -> None:
            return None

        return await after_failure(p.sink, ahead(p), QcFailed("bad"), not_committed)

    error = asyncio.run(go())
    assert isinstance(error, QcFailed)
    assert error.details == {"package": "partial"}
    assert FAILED_NOTE in (p.text("master.m3u8") or "")
    assert FAILED_NOTE in (p.text("manifest.mpd") or "")
    for rep in (0, 1, 2):
        doc = m3u8.loads(p.text(f"media_{rep}.m3u8") or "")
        assert doc.playlist_type == "event"
        assert not doc.is_endlist
        assert all(p.has(str(s.uri)) for s in doc.segments)  # not withdrawn


def test_a_failure_after_another_attempt_committed_leaves_its_package(tmp_path: Path) -> None:
    p = Package(tmp_path)

    async def go() -> FfapiError | None:
        await p.sink.landed([p.segment(0), p.segment(1), p.segment(2)])
        await settle()

        async def committed() -> object:
            return object()

        return await after_failure(p.sink, ahead(p), RuntimeError("boom"), committed)

    error = asyncio.run(go())
    assert error is not None
    assert error.code == "internal_error"
    assert error.details == {"package": "partial"}
    assert FAILED_NOTE not in (p.text("master.m3u8") or "")


def test_a_failure_before_playable_withdraws_what_was_put(tmp_path: Path) -> None:
    p = Package(tmp_path)

    async def go() -> FfapiError | None:
        await p.sink.landed([p.segment(0), p.segment(1)])
        await settle()

        async def not_committed() -> None:
            return None

        return await after_failure(p.sink, ahead(p), QcFailed("bad"), not_committed)

    assert asyncio.run(go()) is None  # the job's own error stands, its segments withdrawn
    assert not any(key.endswith((".m3u8", ".mpd")) for _, key in p.store.objects)


def request(**changes: object) -> JobRequest:
    body = {"version": 2, "input": S3ObjectRef(bucket="in-bucket", key="a.mp4"), "output": OUT}
    return JobRequest.model_validate({**body, **changes})


def test_progressive_comes_from_the_request_or_the_preset(tmp_path: Path) -> None:
    catalog = builtin_catalog().presets
    mp4, hls = catalog["mp4-720p"], web()
    assert not is_progressive(request(), hls)
    assert is_progressive(request(progressive=True), hls)
    assert is_progressive(request(), hls.model_copy(update={"progressive": True}))
    assert not is_progressive(request(progressive=True), mp4)
    heard: list[object] = []
    store = MemoryObjectStore()
    sink = progressive_sink(
        store, LocalDiskFiles(), request(progressive=True), hls, tmp_path, JOB,
        UploadAhead(store, 1, tmp_path, OUT, JOB), heard.append, START,
        lambda: START + timedelta(seconds=2.5),
    )  # fmt: skip
    assert sink is not None
    sink._on_playable()
    assert heard == [
        PlayableNotice(
            output=OUT, seconds=2.5,
            playback={"hls": f"{KEY}/master.m3u8", "dash": f"{KEY}/manifest.mpd"},
        )
    ]  # fmt: skip


def test_progressive_needs_version_2_and_no_steps() -> None:
    with pytest.raises(ValueError, match="progressive"):
        JobRequest.model_validate(
            {"input": {"bucket": "in-bucket", "key": "a.mp4"}, "progressive": True}
        )
