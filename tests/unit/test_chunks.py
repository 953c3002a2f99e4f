"""One long job across many workers, on the in-memory ports (`chunk_harness`): the fan-out
sent once however the parent is delivered, chunks ending in any order, twice or at once
ending in one stitch and one ``job.completed``, a failing chunk in one ``job.failed``, a
cancel of the parent cancelling its chunks; users see only the parent's events."""

from __future__ import annotations

import asyncio
import json
import random
from fractions import Fraction
from pathlib import Path

import pytest

from core.errors import InvalidMedia, StorageUnavailable
from core.jobs.chunk_fanout import sending_order
from core.jobs.chunk_model import chunk_job_id, is_chunk, plan_chunks
from core.jobs.outcome import Disposition, JobOutcomeStatus
from core.jobs.results import JobStatus, output_key
from core.streaming.ranges import SegmentGrid

from .chunk_harness import ChunkHarness
from .dispatch_harness import OUT


def parent_id(h: ChunkHarness) -> str:
    [job] = [j for j, rec in h.jobs.records.items() if not is_chunk(j)]
    return job


def test_a_split_job_sends_its_chunks_and_the_audio_once(tmp_path: Path) -> None:
    h = ChunkHarness(tmp_path)
    outcome = h.submit(split=True)
    assert outcome.disposition is Disposition.ACK
    assert [j.status for j in outcome.jobs] == [JobOutcomeStatus.SPLIT]
    parent = parent_id(h)
    assert h.jobs.records[parent]["status"] == JobStatus.SPLIT
    assert "lease_until" not in h.jobs.records[parent]  # no worker holds it
    # the parent's message again (a redelivery, a duplicate S3 event): nothing more sent
    assert h.submit(message_id="parent-msg", receive_count=2).jobs[0].status == "SPLIT"
    assert h.submit(message_id="other-msg").jobs[0].status == "SPLIT"
    bodies = h.bodies()
    assert len(bodies) == 3 + 1  # 24 s in 8 s chunks, and the audio
    # the pictures first: 24 s of sound is the shortest to encode (test_sending_order)
    assert [json.loads(b)["chunk"]["index"] for b in bodies] == [0, 1, 2, 3]
    assert all(json.loads(b)["chunk"]["parent"] == parent for b in bodies)
    assert h.events.types == ["ffapi.job.received", "ffapi.job.started"]


def test_a_fan_out_cut_short_is_sent_whole_by_the_next_delivery(tmp_path: Path) -> None:
    h = ChunkHarness(tmp_path)
    h.queue.fail_after = 2  # the worker's sends fail after two chunks
    assert h.submit(split=True).disposition is Disposition.RETRY
    h.queue.fail_after = None
    assert h.submit(receive_count=2).jobs[0].status == "SPLIT"
    bodies = h.bodies()
    assert len(bodies) == 2 + 4  # sent again, all of them: the same chunk ids
    h.deliver(bodies)
    assert sorted(h.media.encoded) == [0, 1, 2, 3]  # each chunk encoded once
    assert len(h.of_type("job.completed")) == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chunks_in_any_order_and_twice_end_in_one_stitch_and_one_completion(
    tmp_path: Path, seed: int
) -> None:
    h = ChunkHarness(tmp_path)
    h.submit(split=True)
    bodies = h.bodies() * 2  # every chunk delivered twice
    random.Random(seed).shuffle(bodies)
    h.deliver(bodies)
    parent = parent_id(h)
    assert h.media.stitched == 1
    [done] = h.of_type("job.completed")
    assert done.subject == parent
    assert h.jobs.records[parent]["status"] == JobStatus.COMPLETED
    assert h.jobs.records[parent]["announced"] is True
    # users see one job: no event names a chunk
    assert not [e for e in h.events.published if is_chunk(e.subject)]
    progress = [e.data["progress"]["percent"] for e in h.of_type("job.progress")]
    assert sorted(set(progress)) == [25.0, 50.0, 75.0]
    # the package: every chunk's segments and the stitched master, under the parent's prefix
    keys = set(asyncio.run(h.objects.list_keys(OUT.bucket, "")))
    master = output_key(OUT, parent, "master.m3u8")
    assert {master, output_key(OUT, parent, "job.json")} <= keys
    segments = [k for k in keys if "/cmaf/seg-" in k]
    assert len(segments) == 2 * 6 + 6  # two rungs of six 4 s segments, and the audio's
    assert all(k.startswith(output_key(OUT, parent, "")) for k in segments)
    assert done.data["playback"] == {"hls": master}


def test_chunks_ending_at_once_stitch_once(tmp_path: Path) -> None:
    h = ChunkHarness(tmp_path)
    h.submit(split=True)
    bodies = h.bodies()
    h.deliver(bodies + bodies, together=True)
    assert h.media.stitched == 1
    assert len(h.of_type("job.completed")) == 1


def test_a_chunk_failing_for_good_fails_the_parent_once(tmp_path: Path) -> None:
    h = ChunkHarness(tmp_path)
    h.media.fail[1] = InvalidMedia("broken frames in the middle")
    h.submit(split=True)
    bodies = h.bodies()
    h.deliver(bodies + bodies)
    parent = parent_id(h)
    [failed] = h.of_type("job.failed")
    assert failed.subject == parent
    assert failed.data["error"]["code"] == "invalid_media"
    assert h.of_type("job.completed") == []
    assert h.jobs.records[parent]["status"] == JobStatus.FAILED
    assert h.media.stitched == 0
    assert not [e for e in h.events.published if is_chunk(e.subject)]


def test_a_chunk_retried_on_a_transient_failure_is_redone_alone(tmp_path: Path) -> None:
    h = ChunkHarness(tmp_path)
    h.media.fail[2] = StorageUnavailable("s3:PutObject: SlowDown")
    h.submit(split=True)
    bodies = h.bodies()
    outcomes = h.deliver(bodies)
    assert [o.disposition for o in outcomes].count(Disposition.RETRY) == 1
    del h.media.fail[2]
    retry = [b for b in bodies if json.loads(b)["chunk"]["index"] == 2]
    h.deliver(retry)
    assert sorted(h.media.encoded) == [0, 1, 2, 2, 3]
    assert len(h.of_type("job.completed")) == 1


def test_a_stitch_that_fails_is_done_again_by_its_chunks_next_delivery(tmp_path: Path) -> None:
    h = ChunkHarness(tmp_path)
    h.media.stitch_fails.append(StorageUnavailable("s3:PutObject: SlowDown"))
    h.submit(split=True)
    bodies = h.bodies()
    outcomes = h.deliver(bodies)
    assert outcomes[-1].disposition is Disposition.RETRY  # the last ending's stitch failed
    assert h.of_type("job.completed") == []
    h.deliver(bodies)  # each again: the last one stitches again, encoding nothing again
    assert sorted(h.media.encoded) == [0, 1, 2, 3]
    assert h.media.stitched == 2
    assert len(h.of_type("job.completed")) == 1


def test_the_stitchs_scratch_goes_once_committed_and_a_committed_stitch_is_not_redone(
    tmp_path: Path,
) -> None:
    h = ChunkHarness(tmp_path)
    h.media.scratch = (".storyboard-tiles/tile-00001.jpg",)
    h.submit(split=True)
    parent = parent_id(h)
    tile = output_key(OUT, parent, ".storyboard-tiles/tile-00001.jpg")
    asyncio.run(h.objects.put_bytes(b"jpeg", OUT.bucket, tile, "image/jpeg", ""))
    bodies = h.bodies()
    h.deliver(bodies)
    assert h.media.stitched == 1
    keys = set(asyncio.run(h.objects.list_keys(OUT.bucket, "")))
    assert output_key(OUT, parent, "job.json") in keys
    assert tile not in keys  # the tiles, laid out into sheets, withdrawn
    # as a crash after the commit leaves them: the parent open, the last chunk to retry
    h.jobs.records[parent]["status"] = JobStatus.SPLIT
    last = chunk_job_id(parent, json.loads(bodies[-1])["chunk"]["index"])
    h.jobs.records[last]["status"] = JobStatus.RETRYING
    h.deliver(bodies[-1:])
    assert h.jobs.records[parent]["status"] == JobStatus.COMPLETED
    assert h.media.stitched == 1  # committed already: not stitched again (its tiles are gone)


def test_a_job_that_cannot_be_split_runs_whole(tmp_path: Path) -> None:
    h = ChunkHarness(tmp_path)
    outcome = h.submit(split=True, preset="mp4-720p")
    assert outcome.jobs[0].status == "COMPLETED"
    assert h.bodies() == []


def test_cancelling_the_parent_cancels_its_chunks(tmp_path: Path) -> None:
    h = ChunkHarness(tmp_path)
    h.submit(split=True)
    bodies = sorted(h.bodies(), key=lambda b: int(json.loads(b)["chunk"]["index"]))
    h.deliver(bodies[:1])  # one chunk done, its segments uploaded
    parent = parent_id(h)
    cancel = {"version": 2, "cancel": {"job_id": parent}}
    h.handle(json.dumps(cancel), message_id="cancel-msg")
    h.deliver(bodies[1:])
    assert h.media.encoded == [0]  # the others never ran
    assert [e.subject for e in h.of_type("job.cancelled")] == [parent]
    assert h.of_type("job.completed") == []
    assert h.jobs.records[parent]["status"] == JobStatus.CANCELLED
    for index in range(1, 4):
        assert h.jobs.records[chunk_job_id(parent, index)]["status"] == JobStatus.CANCELLED
    assert (
        asyncio.run(h.objects.list_keys(OUT.bucket, "")) == []
    )  # what the done chunk uploaded, withdrawn


def test_a_long_job_splits_on_its_own_and_split_false_forbids_it(tmp_path: Path) -> None:
    h = ChunkHarness(tmp_path, duration=24.0, above=20.0)
    assert h.submit().jobs[0].status == "SPLIT"
    h = ChunkHarness(tmp_path, duration=24.0, above=20.0)
    assert h.submit(split=False).jobs[0].status == "COMPLETED"
    h = ChunkHarness(tmp_path, duration=24.0, above=30.0)
    assert h.submit().jobs[0].status == "COMPLETED"
    h = ChunkHarness(tmp_path, duration=24.0, above=0.0)  # 0: never on its own
    assert h.submit().jobs[0].status == "COMPLETED"


def test_a_progressive_job_is_split_only_on_request(tmp_path: Path) -> None:
    # its growing package needs segments in order: its length alone never splits it
    h = ChunkHarness(tmp_path, duration=24.0, above=20.0)
    assert h.submit(progressive=True).jobs[0].status == "COMPLETED"
    h = ChunkHarness(tmp_path, duration=24.0, above=20.0)
    assert h.submit(progressive=True, split=True).jobs[0].status == "SPLIT"
    h.deliver(h.bodies())
    assert len(h.of_type("job.completed")) == 1
    assert h.of_type("job.playable") == []  # a split job publishes at its stitch


def test_a_chunk_message_naming_no_split_job_is_refused(tmp_path: Path) -> None:
    h = ChunkHarness(tmp_path)
    body = {"version": 2, "chunk": {"parent": "j-" + "0" * 24, "index": 0}}
    outcome = h.handle(json.dumps(body))
    assert [j.status for j in outcome.jobs] == [JobOutcomeStatus.FAILED]
    assert outcome.jobs[0].error is not None
    assert outcome.jobs[0].error.code == "invalid_request"


def test_a_request_carrying_a_chunk_is_refused(tmp_path: Path) -> None:
    h = ChunkHarness(tmp_path)
    outcome = h.submit(chunk={"parent": "j-" + "0" * 24, "index": 0})
    assert outcome.jobs[0].error is not None
    assert outcome.jobs[0].error.code == "invalid_request"


def test_the_chunk_plan_is_whole_segments_of_the_grid_then_the_audio() -> None:
    chunks = plan_chunks(SegmentGrid(Fraction(25), 4.0, 625), 8.0)  # 25 s at 25 fps
    video = [c for c in chunks if c.kind == "video"]
    assert [(c.start, c.end, c.first_segment, c.count) for c in video] == [
        (0.0, 8.0, 0, 2), (8.0, 16.0, 2, 2), (16.0, 24.0, 4, 2), (24.0, 25.0, 6, 1),
    ]  # fmt: skip
    assert video[-1].last
    assert video[1].segments() == SegmentGrid(Fraction(25), 4.0, 625).split(8.0)[1]
    assert [(c.kind, c.start, c.end) for c in chunks[-1:]] == [("audio", 0.0, 25.0)]
    assert all(c.index == i for i, c in enumerate(chunks))
    grid = SegmentGrid(Fraction(25), 4.0, 200)
    assert [c.kind for c in plan_chunks(grid, 8.0, audio=False)] == ["video"]


def test_the_longest_chunks_are_sent_first() -> None:
    """A film's sound encodes ~30 times faster than its ladder: the audio chunk goes first
    when it outlasts a picture chunk (a long film), last when it is the shortest."""

    def order(duration: float, chunk: float) -> list[str]:
        grid = SegmentGrid(rate=Fraction(30), segment_seconds=4.0, frames=int(duration * 30))
        return [c.kind for c in sending_order(plan_chunks(grid, chunk, audio=True), duration)]

    film = order(7200.0, 60.0)
    assert film[0] == "audio"
    assert film.count("video") == 120
    assert order(120.0, 16.0)[-1] == "audio"
