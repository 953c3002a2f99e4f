"""core.segment_follow: which segments are final, what is sent early and once, and what the
publish still sends (a file written again since)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.errors import StorageUnavailable
from core.models import OutputLocation
from core.ports import FileStamp
from core.publish import Publisher, Upload
from core.segment_follow import SegmentFollower, final_segments

OUT = OutputLocation(bucket="out-bucket", prefix="outputs")
LOCAL = Path("/job/out")


def test_a_segment_is_final_once_the_next_of_its_rendition_is_there() -> None:
    paths = [
        "encode/cmaf/init-0.m4s", "encode/cmaf/seg-0-00001.m4s", "encode/cmaf/seg-0-00002.m4s",
        "encode/cmaf/seg-0-00003.m4s", "encode/cmaf/seg-1-00001.m4s",
        "encode/cmaf/media_0.m3u8", "hls/seg-2-00009.ts", "hls/seg-2-00010.ts",
        "frames/frame-00001.jpg", "frames/frame-00002.jpg",
    ]  # fmt: skip
    assert final_segments(paths) == [
        "encode/cmaf/seg-0-00001.m4s", "encode/cmaf/seg-0-00002.m4s", "hls/seg-2-00009.ts",
    ]  # fmt: skip


def test_init_segments_and_the_last_of_each_rendition_wait() -> None:
    assert final_segments(["cmaf/init-0.m4s", "cmaf/init-1.m4s", "cmaf/seg-0-00001.m4s"]) == []


class Files:
    """The job's output directory as stamps, by path."""

    def __init__(self, stamps: dict[str, FileStamp]) -> None:
        self.now = stamps

    async def stamps(self, root: Path) -> dict[str, FileStamp]:
        assert root == LOCAL
        return dict(self.now)


class Store:
    def __init__(self, failures: int = 0) -> None:
        self.sent: list[str] = []
        self.failures = failures
        self.delivered = asyncio.Event()

    async def upload_file(self, path: Path, bucket: str, key: str, *headers: object) -> None:
        if self.failures:
            self.failures -= 1
            raise StorageUnavailable("s3:PutObject failed")
        self.sent.append(key.removeprefix("outputs/j-1/"))
        self.delivered.set()


def segments(*numbers: int, written: int = 1) -> dict[str, FileStamp]:
    return {f"cmaf/seg-0-{n:05d}.m4s": FileStamp(100 + n, written) for n in numbers}


def follower(files: Files, store: Store) -> SegmentFollower:
    publisher = Publisher(store, 2)  # type: ignore[arg-type]
    return SegmentFollower(publisher, files, LOCAL, OUT, "j-1", interval=0.0)  # type: ignore[arg-type]


def test_each_finished_segment_is_sent_once_and_the_publish_skips_it() -> None:
    async def run() -> None:
        files, store = Files(segments(1, 2)), Store()
        early = follower(files, store)
        await early._send_finished()
        files.now = segments(1, 2, 3)
        await early._send_finished()
        await early._send_finished()
        assert store.sent == ["cmaf/seg-0-00001.m4s", "cmaf/seg-0-00002.m4s"]
        sent = await early.unchanged()
        assert sent == {"cmaf/seg-0-00001.m4s", "cmaf/seg-0-00002.m4s"}
        uploads = [Upload(p, 0) for p in files.now]
        await Publisher(store, 2).publish(LOCAL, OUT, "j-1", uploads, sent)  # type: ignore[arg-type]
        assert sorted(store.sent) == sorted(files.now)  # the last one, by the publish

    asyncio.run(run())


def test_a_segment_written_again_is_sent_again() -> None:
    async def run() -> None:
        files, store = Files(segments(1, 2)), Store()
        early = follower(files, store)
        await early._send_finished()
        files.now = segments(1, 2, written=2)  # another tier's pass wrote them again
        assert await early.unchanged() == set()
        await early._send_finished()
        assert store.sent == ["cmaf/seg-0-00001.m4s"] * 2

    asyncio.run(run())


def test_a_failure_to_send_early_is_not_the_job_s() -> None:
    async def run() -> None:
        files, store = Files(segments(1, 2)), Store(failures=1)
        early = follower(files, store)
        task = asyncio.create_task(early.follow())
        await store.delivered.wait()  # the first try failed; the loop went on and sent it
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert store.sent == ["cmaf/seg-0-00001.m4s"]

    asyncio.run(run())
