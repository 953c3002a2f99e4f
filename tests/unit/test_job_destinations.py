"""Several destinations per job: the request's field, admitted as the output is; the plan
every job.json lists (keys moved under each destination); and the copies, on the in-memory
store: each destination's files first, its own job.json last and once, an earlier copy's
leftovers removed, a committed destination left alone, a failed copy leaving no marker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from core.attempt.commit import JobCommit
from core.attempt.destinations import Destinations, relocate, with_destinations
from core.errors import InvalidMessage, StorageUnavailable
from core.jobs.intake import normalize
from core.jobs.results import JobResult, derive_job_id
from core.models import JobRequest, OutputLocation
from infra.memory_objects import MemoryObjectStore
from tests.unit.sample_bodies import CONFIG, read_event, rejected

OUT = OutputLocation(bucket="ffapi-output", prefix="outputs/web")
ARCHIVE = OutputLocation(bucket="ffapi-output", prefix="outputs/archive/")
ROOT = OutputLocation(bucket="ffapi-output", prefix="outputs")
FILES = {"cmaf/master.m3u8": b"#EXTM3U\n", "cmaf/v0/seg_00001.m4s": b"\x00" * 40}


def body(**changes: object) -> str:
    doc = json.loads(read_event("job-request-destinations.json"))
    return json.dumps({**doc, **changes})


def result() -> JobResult:
    prefix = "outputs/web/j-1/"
    return JobResult.model_validate({
        "job_id": "j-1", "input": {"bucket": "ffapi-input", "key": "talk.mp4"},
        "preset": "web-hls", "output": OUT.model_dump(),
        "source": {"format": "mov", "duration": 2.0, "size": 1}, "encoder": "libx264",
        "started_at": "2027-01-15T08:00:00Z", "completed_at": "2027-01-15T08:00:01Z",
        "outputs": [
            {"key": prefix + k, "role": "hls", "content_type": "x", "size": len(v)}
            for k, v in FILES.items()
        ],
        "renditions": [{
            "name": "v0", "kind": "video", "playlist": prefix + "cmaf/v0.m3u8",
            "bitrate_kbps": 1, "peak_bandwidth": 1, "average_bandwidth": 1, "segments": 1,
            "duration": 2.0, "size": 40,
        }],
        "playback": {"hls": prefix + "cmaf/master.m3u8"},
        "steps": [{"step": 1, "op": "encode", "name": "web",
                   "playback": {"hls": prefix + "web/master.m3u8"}}],
    })  # fmt: skip


# --- the request ---------------------------------------------------------------------------


def test_the_sample_names_a_second_destination() -> None:
    (request,) = normalize(read_event("job-request-destinations.json"), CONFIG).requests
    assert request.output == OUT
    assert request.destinations == (ARCHIVE.model_copy(update={"prefix": "outputs/archive"}),)


@pytest.mark.parametrize(
    ("destinations", "code", "mention"),
    [
        ([{"bucket": "someone-elses"}], "forbidden_bucket", "someone-elses"),
        ([{"bucket": "ffapi-output", "prefix": "elsewhere"}], "forbidden_prefix", "outputs"),
        ([{"bucket": "ffapi-output", "prefix": "outputs/../x"}], "invalid_key", "'..'"),
        ([{"bucket": "ffapi-output", "prefix": "outputs/web/"}], "invalid_request", "once"),
        ([{"bucket": "ffapi-output", "prefix": "outputs/a"}] * 2, "invalid_request", "once"),
        ([{"bucket": "ffapi-output", "prefix": f"outputs/{i}"} for i in range(4)],
         "invalid_request", "destinations"),
    ],
)  # fmt: skip
def test_each_destination_is_admitted_as_the_output_is(
    destinations: list[dict[str, str]], code: str, mention: str
) -> None:
    refused = rejected(body(destinations=destinations))
    assert refused.code == code
    assert mention in str(refused)


def test_the_default_output_is_no_destination_of_its_own() -> None:
    doc = json.loads(body(destinations=[{"bucket": "ffapi-output", "prefix": "outputs"}]))
    del doc["output"]  # the default is outputs
    refused = rejected(json.dumps(doc))
    assert (refused.code, "destinations[0]" in str(refused)) == ("invalid_request", True)


def test_a_watched_destination_is_refused() -> None:
    refused = rejected(body(destinations=[{"bucket": "ffapi-input", "prefix": "incoming"}]))
    assert refused.code in ("forbidden_bucket", "invalid_request")
    config = CONFIG.__class__(
        rules=CONFIG.rules,
        default_output=CONFIG.default_output,
        policy=CONFIG.admission.__class__(
            input_buckets=frozenset({"ffapi-input"}),
            output_buckets=frozenset({"ffapi-input", "ffapi-output"}),
            output_root="",
        ),
    )
    with pytest.raises(InvalidMessage, match="watched"):
        normalize(body(destinations=[{"bucket": "ffapi-input", "prefix": "incoming"}]), config)


def test_a_further_destination_is_another_job_and_none_changes_no_id() -> None:
    plain = JobRequest.model_validate_json(body(destinations=[]))
    more = JobRequest.model_validate_json(body())
    assert derive_job_id(plain, None) != derive_job_id(more, None)
    before = JobRequest.model_validate(json.loads(body()) | {"destinations": []})
    assert derive_job_id(before, None) == derive_job_id(plain, None)


def test_destinations_are_bounded_by_the_schema() -> None:
    with pytest.raises(ValidationError):
        JobRequest.model_validate_json(
            body(destinations=[{"bucket": "b" * 3, "prefix": f"p{i}"} for i in range(4)])
        )


# --- the plan ------------------------------------------------------------------------------


def test_every_key_moves_under_the_destination() -> None:
    moved = relocate(result(), ARCHIVE)
    assert moved.output == ARCHIVE
    assert [o.key for o in moved.outputs] == [
        "outputs/archive/j-1/cmaf/master.m3u8",
        "outputs/archive/j-1/cmaf/v0/seg_00001.m4s",
    ]
    assert moved.renditions[0].playlist == "outputs/archive/j-1/cmaf/v0.m3u8"
    assert moved.playback == {"hls": "outputs/archive/j-1/cmaf/master.m3u8"}
    assert moved.steps[0].playback == {"hls": "outputs/archive/j-1/web/master.m3u8"}
    assert result().outputs[0].key.startswith("outputs/web/")  # the original stays


def test_the_result_lists_every_destination_the_output_first() -> None:
    assert with_destinations(result(), ()).destinations == []
    listed = with_destinations(result(), (ARCHIVE,)).destinations
    assert [(d.bucket, d.prefix, d.marker) for d in listed] == [
        ("ffapi-output", "outputs/web", "outputs/web/j-1/job.json"),
        ("ffapi-output", "outputs/archive/", "outputs/archive/j-1/job.json"),
    ]
    assert [d.playback["hls"] for d in listed] == [
        "outputs/web/j-1/cmaf/master.m3u8",
        "outputs/archive/j-1/cmaf/master.m3u8",
    ]


# --- the copies ----------------------------------------------------------------------------


class Recording(MemoryObjectStore):
    def __init__(self, broken: str | None = None) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []
        self.broken = broken

    async def copy(self, bucket: str, key: str, dest_bucket: str, dest_key: str) -> None:
        if self.broken and dest_key.endswith(self.broken):
            raise StorageUnavailable("s3:CopyObject: 500: InternalError")
        self.calls.append(("copy", dest_key))
        await super().copy(bucket, key, dest_bucket, dest_key)

    async def put_new(
        self, data: bytes, bucket: str, key: str, content_type: str, cache: str | None
    ) -> bool:
        self.calls.append(("put_new", key))
        return await super().put_new(data, bucket, key, content_type, cache)

    async def delete_keys(self, bucket: str, keys: Sequence[str]) -> None:
        self.calls += [("delete", k) for k in keys]
        await super().delete_keys(bucket, keys)


def committed(store: Recording, destinations: tuple[OutputLocation, ...]) -> JobResult:
    """The output's package and job.json, as the pipeline leaves them."""
    for name, data in FILES.items():
        asyncio.run(store.put_bytes(data, OUT.bucket, f"outputs/web/j-1/{name}", "x", None))
    commit = JobCommit(store, "application/json", "no-cache")
    return asyncio.run(commit.commit(with_destinations(result(), destinations)))


def publish(store: Recording, done: JobResult) -> JobResult:
    commit = JobCommit(store, "application/json", "no-cache")
    return asyncio.run(Destinations(store, commit, 4).publish(done))


def test_each_destination_gets_the_package_then_its_own_marker() -> None:
    store = Recording()
    second = OutputLocation(bucket="ffapi-archive", prefix="")
    done = committed(store, (ARCHIVE, second))
    store.calls.clear()
    assert publish(store, done) == done
    archive = [c for c in store.calls if "archive/" in c[1]]
    assert archive[-1] == ("put_new", "outputs/archive/j-1/job.json")  # last, once
    assert sorted(archive[:-1]) == [
        ("copy", "outputs/archive/j-1/cmaf/master.m3u8"),
        ("copy", "outputs/archive/j-1/cmaf/v0/seg_00001.m4s"),
    ]
    assert store.calls[-1] == ("put_new", "j-1/job.json")
    for bucket, key in (("ffapi-output", "outputs/archive/j-1/"), ("ffapi-archive", "j-1/")):
        marker = store.stored(bucket, f"{key}job.json")
        assert marker is not None
        copy = JobResult.model_validate_json(marker.data)
        assert {o.key for o in copy.outputs} == {f"{key}{n}" for n in FILES}
        for name, data in FILES.items():
            stored = store.stored(bucket, f"{key}{name}")
            assert stored is not None
            assert stored.data == data
        assert copy.destinations == done.destinations  # every copy says the same


def test_a_committed_destination_is_not_copied_again() -> None:
    store = Recording()
    done = committed(store, (ARCHIVE,))
    publish(store, done)
    store.calls.clear()
    publish(store, done)
    assert [c for c in store.calls if c[0] != "put_new"] == []


def test_an_earlier_copys_leftovers_go_before_the_marker() -> None:
    store = Recording()
    done = committed(store, (ARCHIVE,))
    asyncio.run(store.put_bytes(b"old", "ffapi-output", "outputs/archive/j-1/stale.m4s", "x", None))
    store.calls.clear()
    publish(store, done)
    assert store.stored("ffapi-output", "outputs/archive/j-1/stale.m4s") is None
    deleted = store.calls.index(("delete", "outputs/archive/j-1/stale.m4s"))
    assert deleted < store.calls.index(("put_new", "outputs/archive/j-1/job.json"))


def test_a_failed_copy_fails_the_attempt_and_commits_nothing_there() -> None:
    store = Recording(broken="seg_00001.m4s")
    done = committed(store, (ARCHIVE,))
    with pytest.raises(StorageUnavailable) as info:
        publish(store, done)
    assert info.value.retryable  # the job is retried; the next attempt adopts and copies
    assert store.stored("ffapi-output", "outputs/archive/j-1/job.json") is None
    store.broken = None
    publish(store, done)
    assert store.stored("ffapi-output", "outputs/archive/j-1/job.json") is not None


def test_no_key_of_the_output_is_left_in_a_copys_result() -> None:
    """Every string of the moved result (outputs, renditions, playback, steps: whatever field
    holds a key, now or later) is under the destination, never the output."""
    moved = relocate(result(), ARCHIVE).model_dump(mode="json")

    def strings(node: object) -> list[str]:
        if isinstance(node, dict):
            return [s for v in node.values() for s in strings(v)]
        if isinstance(node, list):
            return [s for v in node for s in strings(v)]
        return [node] if isinstance(node, str) else []

    found = strings(moved)
    assert [s for s in found if s.startswith("outputs/web/")] == []
    assert sum(s.startswith("outputs/archive/j-1/") for s in found) == 5
