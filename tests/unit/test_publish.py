"""core.publish: tiers in order, headers by file type, bounded parallelism, first error kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.errors import StorageUnavailable
from core.models import OutputLocation
from core.publish import Publisher, Upload, headers_for

OUT = OutputLocation(bucket="out-bucket", prefix="outputs")


class RecordingStore:
    def __init__(self, fail_on: str | None = None, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        self.active = self.peak = 0
        self.fail_on, self.delay = fail_on, delay

    async def upload_file(
        self, path: Path, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delay)
            if self.fail_on and key.endswith(self.fail_on):
                raise StorageUnavailable(f"s3:PutObject failed for {key}")
            assert bucket == "out-bucket"
            assert path == Path("/job/out") / key.split("/", 2)[2]
            self.calls.append((key, content_type, cache_control))
        finally:
            self.active -= 1


PACKAGE = [
    Upload("cmaf/master.m3u8", 2),
    Upload("cmaf/manifest.mpd", 2),
    Upload("cmaf/media_0.m3u8", 1),
    Upload("cmaf/media_1.m3u8", 1),
    *[Upload(f"cmaf/seg-0-{n:05d}.m4s", 0) for n in range(1, 6)],
    Upload("cmaf/init-0.m4s", 0),
    Upload("thumbnails/poster.jpg", 0),
    Upload("thumbnails/storyboard.vtt", 0),
]


def publish(store: RecordingStore, concurrency: int = 3) -> None:
    asyncio.run(Publisher(store, concurrency).publish(Path("/job/out"), OUT, "j-1", PACKAGE))  # type: ignore[arg-type]


def test_segments_then_media_playlists_then_manifests() -> None:
    store = RecordingStore(delay=0.001)
    publish(store)
    tiers = {u.path: u.tier for u in PACKAGE}
    order = [tiers[key.removeprefix("outputs/j-1/")] for key, _, _ in store.calls]
    assert order == sorted(order)
    assert len(store.calls) == len(PACKAGE)
    assert 1 < store.peak <= 3  # parallel within a tier, bounded


@pytest.mark.parametrize(
    ("path", "content_type", "cache"),
    [
        ("cmaf/seg-0-00001.m4s", "video/iso.segment", "immutable"),
        ("hls/seg-0-00001.ts", "video/mp2t", "immutable"),
        ("thumbnails/thumb-00001.jpg", "image/jpeg", "immutable"),
        ("video.mp4", "video/mp4", "immutable"),
        ("cmaf/master.m3u8", "application/vnd.apple.mpegurl", "max-age=60"),
        ("cmaf/manifest.mpd", "application/dash+xml", "max-age=60"),
        ("thumbnails/storyboard.vtt", "text/vtt", "max-age=60"),
    ],
)
def test_headers_by_file_type(path: str, content_type: str, cache: str) -> None:
    got_type, got_cache = headers_for(path)
    assert got_type == content_type
    assert cache in got_cache


def test_a_failed_upload_stops_before_the_next_tier_with_its_own_error() -> None:
    store = RecordingStore(fail_on="media_0.m3u8")
    with pytest.raises(StorageUnavailable, match=r"media_0\.m3u8"):
        publish(store)
    published = [key for key, _, _ in store.calls]
    assert not any(key.endswith((".mpd", "master.m3u8")) for key in published)
