"""core.attempt.upload: tiers in order, headers by file type, bounded parallelism, first error kept;
segments sent ahead are not sent again, and are withdrawn when the job fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.attempt.upload import Upload, UploadAhead, Uploader, headers_for
from core.errors import StorageUnavailable
from core.models import OutputLocation
from core.streaming.segment_watch import LandedSegment

OUT = OutputLocation(bucket="out-bucket", prefix="outputs")


class RecordingStore:
    def __init__(self, fail_on: str | None = None, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        self.active = self.peak = 0
        self.fail_on, self.delay = fail_on, delay
        self.deleted: list[str] = []

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

    async def delete_keys(self, bucket: str, keys: list[str]) -> None:
        assert bucket == "out-bucket"
        self.deleted += keys


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
    asyncio.run(Uploader(store, concurrency).upload(Path("/job/out"), OUT, "j-1", PACKAGE))  # type: ignore[arg-type]


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


def keys(store: RecordingStore) -> list[str]:
    return [key.removeprefix("outputs/j-1/") for key, _, _ in store.calls]


def ahead(store: RecordingStore) -> UploadAhead:
    return Uploader(store, 3).ahead(Path("/job/out"), OUT, "j-1")  # type: ignore[arg-type]


def test_segments_sent_ahead_are_waited_for_and_not_sent_again() -> None:
    store = RecordingStore(delay=0.001)

    async def run() -> None:
        early = ahead(store)
        # the package's own directory, below the job's output directory; a playlist and an
        # init segment are not final yet (rewritten, tagged): only media segments go ahead
        early.send(
            Path("/job/out/cmaf"),
            ["seg-0-00001.m4s", "seg-0-00002.m4s", "init-0.m4s", "media_0.m3u8"],
        )
        await Uploader(store, 3).upload(Path("/job/out"), OUT, "j-1", PACKAGE, early)  # type: ignore[arg-type]

    asyncio.run(run())
    sent = keys(store)
    assert sorted(sent) == sorted(u.path for u in PACKAGE)  # each once
    assert set(sent[:2]) == {"cmaf/seg-0-00001.m4s", "cmaf/seg-0-00002.m4s"}
    tiers = {u.path: u.tier for u in PACKAGE}
    assert [tiers[k] for k in sent] == sorted(tiers[k] for k in sent)


def test_a_failed_job_withdraws_what_every_attempt_began_to_send() -> None:
    store = RecordingStore(delay=0.05)

    async def run() -> None:
        early = ahead(store)
        early.send(Path("/job/out/cmaf"), ["seg-0-00001.m4s", "seg-0-00002.m4s"])
        await early.settle()
        early.send(Path("/job/out/cmaf"), ["seg-0-00003.m4s"])
        await asyncio.sleep(0.01)  # under way: the request may land though it is cut short
        await early.halt()  # a tier failed: its files are about to be cleared
        early.send(Path("/job/out/hls"), ["seg-0-00001.ts", "seg-0-00002.ts"])  # the next's
        await asyncio.sleep(0.01)
        await early.withdraw()

    asyncio.run(run())
    assert sorted(k.removeprefix("outputs/j-1/") for k in store.deleted) == [
        "cmaf/seg-0-00001.m4s", "cmaf/seg-0-00002.m4s", "cmaf/seg-0-00003.m4s",
        "hls/seg-0-00001.ts", "hls/seg-0-00002.ts",
    ]  # fmt: skip
    assert len(store.calls) == 2  # the rest were cut short


def test_a_steps_pictures_go_ahead_as_they_are_and_are_withdrawn_with_the_segments() -> None:
    """Files that are final as written (a frames step's pictures) go ahead unfiltered, are
    not sent again, and a failed job withdraws them too."""
    store = RecordingStore(delay=0.001)
    pictures = [Upload("frames/frame-00001.jpg", 0), Upload("frames/frame-00002.jpg", 0)]

    async def run() -> None:
        early = ahead(store)
        early.send_files(u.path for u in pictures)
        early.send(Path("/job/out/cmaf"), ["seg-0-00001.m4s"])
        uploads = [*PACKAGE, *pictures]
        await Uploader(store, 3).upload(Path("/job/out"), OUT, "j-1", uploads, early)  # type: ignore[arg-type]
        await early.withdraw()

    asyncio.run(run())
    assert sorted(keys(store)) == sorted(u.path for u in [*PACKAGE, *pictures])  # each once
    assert sorted(k.removeprefix("outputs/j-1/") for k in store.deleted) == [
        "cmaf/seg-0-00001.m4s",
        "frames/frame-00001.jpg",
        "frames/frame-00002.jpg",
    ]


def test_a_failed_upload_ahead_is_the_publishing_error() -> None:
    store = RecordingStore(fail_on="seg-0-00002.m4s")

    async def run() -> None:
        early = ahead(store)
        early.send(Path("/job/out/cmaf"), ["seg-0-00001.m4s", "seg-0-00002.m4s"])
        await Uploader(store, 3).upload(Path("/job/out"), OUT, "j-1", PACKAGE, early)  # type: ignore[arg-type]

    with pytest.raises(StorageUnavailable, match=r"seg-0-00002"):
        asyncio.run(run())
    assert not any(k.endswith((".m3u8", ".mpd")) for k in keys(store))  # nothing names them


def landed(*names: str) -> list[LandedSegment]:
    return [
        LandedSegment("cmaf/media_0.m3u8", f"cmaf/{n}", "cmaf/init-0.m4s", i, 4.0 * i, 4.0, 1)
        for i, n in enumerate(names)
    ]


def test_segments_told_as_they_land_go_at_once_and_only_once() -> None:
    """The upload as a segment sink: each landed segment starts on its way at once; the
    finish's send of the whole directory and the final tiers send none of them again."""
    store = RecordingStore(delay=0.001)

    async def run() -> None:
        early = ahead(store)
        await early.landed(landed("seg-0-00001.m4s"))
        await early.delivered(["cmaf/seg-0-00001.m4s", "cmaf/never-sent.m4s"])
        assert keys(store) == ["cmaf/seg-0-00001.m4s"]  # in the bucket while "encoding"
        await early.landed(landed("seg-0-00001.m4s", "seg-0-00002.m4s")[1:])
        early.send(Path("/job/out/cmaf"), ["seg-0-00001.m4s", "seg-0-00002.m4s", "init-0.m4s"])
        await Uploader(store, 3).upload(Path("/job/out"), OUT, "j-1", PACKAGE, early)  # type: ignore[arg-type]

    asyncio.run(run())
    assert sorted(keys(store)) == sorted(u.path for u in PACKAGE)  # each once


def test_after_a_halt_the_next_tier_sends_its_segments_again() -> None:
    store = RecordingStore(delay=0.001)

    async def run() -> None:
        early = ahead(store)
        await early.landed(landed("seg-0-00001.m4s"))
        await early.settle()
        await early.halt()  # the tier failed; the next one writes the same names
        await early.landed(landed("seg-0-00001.m4s"))
        await early.settle()

    asyncio.run(run())
    assert keys(store) == ["cmaf/seg-0-00001.m4s", "cmaf/seg-0-00001.m4s"]
