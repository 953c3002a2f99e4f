"""Batches on the in-memory ports (`batch_harness`): the fan-out, the record, the one
``batch.completed``, resends and a crash mid-fan-out; dependencies started by their parents'
endings, failing as ``dependency_failed`` downstream of a failure."""

from __future__ import annotations

import asyncio
import json

import pytest

from core.errors import AttemptsExhausted, StorageUnavailable, WorkerLost
from core.jobs.batch_model import batch_key
from core.jobs.intake import parse_model
from core.jobs.job_record import RecordedError
from core.jobs.outcome import Disposition
from core.jobs.results import JobStatus, derive_job_id
from core.models import JobRequest

from .batch_harness import BatchHarness, batch, job

FIVE = batch("nightly-1", *(job(None, k) for k in ("a", "b", "c", "bad", "d")))


def test_a_batch_fans_out_and_ends_in_one_batch_completed() -> None:
    h = BatchHarness()
    assert h.send(FIVE).disposition is Disposition.ACK
    assert h.queue.depth() == 5
    assert h.events.published == []
    outcomes = h.drain()
    assert sorted(o.jobs[0].status for o in outcomes) == ["COMPLETED"] * 4 + ["FAILED"]
    [done] = h.of_type("batch.completed")
    assert (done["total"], done["completed"], done["failed"], done["cancelled"]) == (5, 4, 1, 0)
    ids = [o.jobs[0].job_id for o in outcomes]
    assert sorted(j["job_id"] for j in done["jobs"]) == sorted(ids)
    failed = [j for j in done["jobs"] if j["status"] == "FAILED"]
    assert [h.media.inputs[j["job_id"]] for j in failed] == ["incoming/bad.mp4"]
    assert done["batch_id"] == "nightly-1"
    assert done["key"] == batch_key("nightly-1")
    # Each job's id is derived from the batch: the same one whoever sends it.
    assert len(set(ids)) == 5
    assert all(h.jobs.records[i]["status"] in JobStatus for i in ids)


def test_a_resent_batch_creates_nothing_new() -> None:
    h = BatchHarness()
    h.send(FIVE)
    h.drain()
    records, published = dict(h.jobs.records), len(h.events.published)
    h.send(FIVE, message_id="batch-2")
    assert h.queue.depth() == 0  # fanned out already: nothing sent
    assert h.jobs.records == records
    assert len(h.events.published) == published
    assert len(h.batches.records) == 1


def test_a_job_delivered_again_after_the_batch_ended_announces_nothing_more() -> None:
    h = BatchHarness()
    h.send(FIVE)
    h.queue.visibility_timeout = 3600
    bodies = []
    while deliveries := asyncio.run(h.queue.receive(10, 0)):
        bodies += [d.message.body for d in deliveries]
    for body in bodies:
        h.resend(body)
    for body in bodies:  # every job's message once more: duplicates, each counted again
        assert h.resend(body).jobs[0].status == "DUPLICATE"
    assert len(h.of_type("batch.completed")) == 1


def test_a_crash_mid_fan_out_is_made_good_by_the_next_delivery() -> None:
    h = BatchHarness()
    h.queue.fail_after = 2
    with pytest.raises(StorageUnavailable):  # the consumer leaves the message on the queue
        h.send(FIVE)
    assert h.queue.depth() == 2
    h.queue.fail_after = None
    h.send(FIVE, receive_count=2)  # all five again: two of them a second time
    outcomes = h.drain()
    statuses = sorted(o.jobs[0].status for o in outcomes)
    assert statuses == ["COMPLETED"] * 4 + ["DUPLICATE"] * 2 + ["FAILED"]
    assert len({o.jobs[0].job_id for o in outcomes}) == 5
    [done] = h.of_type("batch.completed")
    assert (done["completed"], done["failed"]) == (4, 1)


def test_an_invalid_job_refuses_the_whole_batch_naming_it() -> None:
    h = BatchHarness()
    bad = batch("b-2", job("a", "a"), job("b", "b"), job("c", "c"), job("d", "d", preset=7))
    outcome = h.send(bad)
    [refused] = outcome.jobs
    assert refused.error is not None
    assert refused.error.code == "invalid_request"
    assert "batch.jobs[3].preset" in refused.error.message
    assert h.queue.depth() == 0
    assert h.batches.records == {}
    assert h.jobs.records == {}
    assert [e.type.value for e in h.events.published] == ["ffapi.job.failed"]


def test_the_same_id_with_other_jobs_is_refused() -> None:
    h = BatchHarness()
    h.send(batch("same", job(None, "a")))
    [refused] = h.send(batch("same", job(None, "b")), message_id="other").jobs
    assert refused.error is not None
    assert "batch.id" in refused.error.message


def test_a_dependent_runs_on_its_parents_output() -> None:
    h = BatchHarness()
    doc = batch(
        "chain", job("enc", "a"),
        {"version": 2, "name": "again", "input": {"from": "enc", "output": "mp4"}},
    )  # fmt: skip
    h.send(doc)
    assert h.queue.depth() == 1  # the dependent waits for its parent
    outcomes = h.drain()
    enc, again = (o.jobs[0].job_id for o in outcomes)
    assert [o.jobs[0].status for o in outcomes] == ["COMPLETED", "COMPLETED"]
    assert h.media.inputs[again] == f"outputs/{enc}/video.mp4"
    [done] = h.of_type("batch.completed")
    assert [(j["name"], j["status"]) for j in done["jobs"]] == [
        ("enc", "COMPLETED"), ("again", "COMPLETED"),
    ]  # fmt: skip


def test_a_dependent_waits_for_all_its_parents() -> None:
    h = BatchHarness()
    doc = batch("join", job("x", "a"), job("y", "b"), job("z", "c", after=["x", "y"]))
    h.send(doc)
    outcomes = h.drain()
    assert [h.media.inputs[o.jobs[0].job_id] for o in outcomes][-1] == "incoming/c.mp4"
    assert len(h.media.runs) == 3
    assert len(h.of_type("batch.completed")) == 1


def test_a_failed_parent_fails_its_dependents_downstream() -> None:
    h = BatchHarness()
    doc = batch(
        "broken", job("p", "bad"), job("ok", "a"),
        job("child", "b", after=["p"]), job("grandchild", "c", after=["child"]),
    )  # fmt: skip
    h.send(doc)
    h.drain()
    assert len(h.media.runs) == 2  # neither dependent ran
    failed = h.of_type("job.failed")
    assert sorted(e["error"]["code"] for e in failed) == [
        "dependency_failed", "dependency_failed", "invalid_media",
    ]  # fmt: skip
    assert all(not e["error"]["retryable"] for e in failed)
    [done] = h.of_type("batch.completed")
    assert (done["completed"], done["failed"]) == (1, 3)
    statuses = {j["name"]: j["status"] for j in done["jobs"]}
    assert statuses == {"p": "FAILED", "ok": "COMPLETED", "child": "FAILED", "grandchild": "FAILED"}
    for name in ("child", "grandchild"):
        [ending] = [j for j in done["jobs"] if j["name"] == name]
        assert h.jobs.records[ending["job_id"]]["error"]["code"] == "dependency_failed"


def test_an_output_the_parent_did_not_make_fails_the_dependent() -> None:
    h = BatchHarness()
    doc = batch("nosuch", job("p", "a"), job("q", "b") | {"input": {"from": "p", "output": "m3u8"}})
    h.send(doc)
    h.drain()
    [done] = h.of_type("batch.completed")
    assert [j["status"] for j in done["jobs"]] == ["COMPLETED", "FAILED"]
    [failed] = h.of_type("job.failed")
    assert failed["error"]["code"] == "dependency_failed"


def test_a_manifest_in_the_bucket_carries_the_batch() -> None:
    h = BatchHarness()
    manifest = {"id": "from-bucket", "jobs": [job(None, "a"), job(None, "b")]}
    asyncio.run(
        h.objects.put_bytes(json.dumps(manifest).encode(), "ffapi-input", "batches/one.json",
                            "application/json", None)
    )  # fmt: skip
    h.send({"version": 2, "batch_manifest": {"bucket": "ffapi-input", "key": "batches/one.json"}})
    h.drain()
    [done] = h.of_type("batch.completed")
    assert (done["batch_id"], done["completed"]) == ("from-bucket", 2)


def test_a_job_the_dead_letter_sweep_gives_up_ends_in_its_batch() -> None:
    h = BatchHarness()
    h.send(batch("lost", job(None, "a"), job(None, "b")))
    h.queue.visibility_timeout = 3600
    first, second = asyncio.run(h.queue.receive(10, 0))
    h.resend(first.message.body)  # one job completes; the other's worker dies: dead-lettered
    request = parse_model(JobRequest, json.loads(second.message.body))
    job_id = derive_job_id(request, None)
    error = AttemptsExhausted.after(WorkerLost("every worker stopped dead"), 2)

    async def sweep() -> None:
        assert await h.jobs.give_up(job_id, request, RecordedError.of(error), "m")
        assert await h.dispatcher.reannounce(job_id, request)

    asyncio.run(sweep())
    [done] = h.of_type("batch.completed")
    assert (done["completed"], done["failed"]) == (1, 1)
    [lost] = [j for j in done["jobs"] if j["status"] == "FAILED"]
    assert lost["job_id"] == job_id


def test_a_long_chain_fails_downstream_of_its_first_job() -> None:
    h = BatchHarness()
    chain = [job("n0", "bad")] + [job(f"n{i}", "a", after=[f"n{i - 1}"]) for i in range(1, 400)]
    h.send(batch("chain-400", *chain))
    h.drain()
    assert len(h.media.runs) == 1
    [done] = h.of_type("batch.completed")
    assert (done["total"], done["completed"], done["failed"]) == (400, 0, 400)
    codes = [e["error"]["code"] for e in h.of_type("job.failed")]
    assert codes.count("dependency_failed") == 399


def test_a_cancelled_job_counts_cancelled_and_fails_its_dependents() -> None:
    h = BatchHarness()
    h.send(batch("stop", job("p", "a"), job("q", "b"), job("r", "c", after=["p"])))
    h.queue.visibility_timeout = 3600
    first, second = asyncio.run(h.queue.receive(10, 0))
    h.resend(second.message.body)
    request = parse_model(JobRequest, json.loads(first.message.body))
    # Job control (cancel) ends the job and counts it through the same call.
    asyncio.run(h.dispatcher._batches.job_ended(request, derive_job_id(request, None), "CANCELLED"))
    [done] = h.of_type("batch.completed")
    assert (done["completed"], done["failed"], done["cancelled"]) == (1, 1, 1)
    assert {j["name"]: j["status"] for j in done["jobs"]} == {
        "p": "CANCELLED", "q": "COMPLETED", "r": "FAILED",
    }  # fmt: skip


def test_a_worker_without_a_batch_store_refuses_batches() -> None:
    h = BatchHarness()
    h.use(h.media)  # the dispatcher without batch ports
    [refused] = h.send(batch("none", job(None, "a"))).jobs
    assert refused.error is not None
    assert "no batch store" in refused.error.message
    assert h.queue.depth() == 0


def test_a_lost_announcement_is_made_by_the_redelivery_of_the_ending_that_took_it() -> None:
    h = BatchHarness()
    h.send(batch("outage", job("p", "bad"), job("c", "a", after=["p"])))
    h.queue.visibility_timeout = 3600
    [parent] = asyncio.run(h.queue.receive(10, 0))
    h.events.outage = {"ffapi.batch.completed"}  # SNS fails the batch's event, once
    with pytest.raises(StorageUnavailable):  # the consumer leaves the message on the queue
        h.resend(parent.message.body)
    assert h.of_type("batch.completed") == []
    # The dependent's failure (in the parent's cascade) took the announcement in the
    # parent's name: the parent's message, delivered again, announces.
    assert h.resend(parent.message.body).jobs[0].status == "DUPLICATE"
    [done] = h.of_type("batch.completed")
    assert (done["completed"], done["failed"]) == (0, 2)
    h.resend(parent.message.body)
    assert len(h.of_type("batch.completed")) == 1


def test_each_job_of_a_batch_goes_to_its_priority_class_queue() -> None:
    h = BatchHarness()
    urgent, later = job("a", "a", priority="high"), job("c", "c", priority="low")
    followup = job("b", "b", after=["a"], priority="high")
    h.send(batch("mixed-1", urgent, followup, later, job(None, "d")))
    assert h.queue.lanes == ["high", "low", "normal"]  # the parentless jobs, in order
    h.drain()
    assert h.queue.lanes[3:] == ["high"]  # the dependent, sent when its parent completed
    [done] = h.of_type("batch.completed")
    assert done["completed"] == 4
