"""Jobs waiting for jobs named by id (``core.jobs.job_deps``), on the in-memory ports
(``batch_harness``): every state the parent may be in when the dependent arrives, the
parent's ending starting or failing it, and the race between registering and the parent's
ending."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest

from core.errors import InvalidMessage
from core.jobs.cancel_request import CancelRequest
from core.jobs.intake import normalize, parse_model
from core.jobs.outcome import JobOutcome
from core.jobs.results import JobStatus, derive_job_id
from core.models import JobRequest
from core.ports import JobStore, QueueMessage

from .batch_harness import EVENTS, BatchHarness, batch, job

OUT_BUCKET = "ffapi-output"


def parent(key: str = "a", name: str = "p1") -> tuple[dict[str, Any], str]:
    """A parent request and its id (named by its idempotency key)."""
    doc = job(None, key, idempotency_key=name)
    return doc, derive_job_id(parse_model(JobRequest, doc), None)


def dependent(parent_id: str, **extra: Any) -> dict[str, Any]:
    return {"version": 2, "input": {"from": parent_id, "output": "mp4"}, **extra}


def one(h: BatchHarness, doc: dict[str, Any], message_id: str) -> JobOutcome:
    [outcome] = h.send(doc, message_id=message_id).jobs
    return outcome


def ended(h: BatchHarness, kind: str) -> Counter[str]:
    return Counter(e.data["job_id"] for e in h.events.published if e.type.value.endswith(kind))


def output_of(h: BatchHarness, job_id: str) -> str:
    return str(h.jobs.records[job_id]["result"]["outputs"][0]["key"])


def test_a_completed_parent_runs_the_dependent_at_once_on_its_output() -> None:
    h = BatchHarness()
    doc, pid = parent()
    assert one(h, doc, "m-parent").status == "COMPLETED"
    child = one(h, dependent(pid), "m-child")
    assert child.status == "COMPLETED"
    assert h.media.inputs[child.job_id] == output_of(h, pid)
    assert h.jobs.records[child.job_id]["request"]["input"]["bucket"] == OUT_BUCKET
    assert h.queue.depth() == 0  # nothing to wait for: nothing sent
    assert ended(h, "job.completed") == {pid: 1, child.job_id: 1}


def test_a_running_parent_makes_it_wait_and_its_completion_starts_it() -> None:
    h = BatchHarness()
    doc, pid = parent()
    request = parse_model(JobRequest, doc)
    asyncio.run(h.jobs.claim(pid, request, 300, "m-parent"))  # a worker runs it
    child = one(h, dependent(pid, after=[pid]), "m-child")
    assert child.status == "WAITING"
    assert h.jobs.records[child.job_id]["status"] == JobStatus.WAITING
    assert h.jobs.records[pid]["dependents"] == {child.job_id}
    assert h.events.published == []  # nothing announced while it waits
    assert h.media.runs == []
    asyncio.run(h.jobs.release(pid, 1))  # that worker stopped: the parent's message again
    assert one(h, doc, "m-parent").status == "COMPLETED"
    assert h.queue.depth() == 1  # its completion sent the dependent
    assert [o.jobs[0].status for o in h.drain()] == ["COMPLETED"]
    assert h.media.inputs[child.job_id] == output_of(h, pid)
    assert ended(h, "job.completed") == {pid: 1, child.job_id: 1}
    assert ended(h, "job.received")[child.job_id] == 1


def test_a_dependent_waits_for_every_parent_it_names() -> None:
    h = BatchHarness()
    (doc_a, a), (doc_b, b) = parent("a", "pa"), parent("b", "pb")
    for pid, doc in ((a, doc_a), (b, doc_b)):
        asyncio.run(h.jobs.claim(pid, parse_model(JobRequest, doc), 300, "m-" + pid))
    child = one(h, job(None, "c", after=[a, b]), "m-child")
    assert child.status == "WAITING"
    asyncio.run(h.jobs.release(a, 1))
    one(h, doc_a, "m-a")
    assert h.queue.depth() == 0  # b still runs
    asyncio.run(h.jobs.release(b, 1))
    one(h, doc_b, "m-b")
    assert [o.jobs[0].status for o in h.drain()] == ["COMPLETED"]
    assert h.media.inputs[child.job_id] == "incoming/c.mp4"  # after alone: its own input


@pytest.mark.parametrize("state", ["failed", "cancelled"])
def test_a_parent_that_did_not_complete_fails_the_dependent(state: str) -> None:
    h = BatchHarness()
    doc, pid = parent("bad" if state == "failed" else "a")
    if state == "failed":
        assert one(h, doc, "m-parent").status == "FAILED"
    else:
        assert asyncio.run(h.jobs.cancel(pid)).outcome == "cancelled"
    child = one(h, dependent(pid), "m-child")
    assert child.status == "FAILED"
    assert child.error is not None
    assert child.error.code == "dependency_failed"
    assert "input.from" in child.error.message
    assert child.job_id not in h.media.inputs  # never ran
    [failed] = [e for e in h.of_type("job.failed") if e["job_id"] == child.job_id]
    assert failed["error"]["code"] == "dependency_failed"
    # Its message again: the same failure, announced once.
    assert one(h, dependent(pid), "m-child-2").status == "DUPLICATE"
    assert ended(h, "job.failed")[child.job_id] == 1


def test_a_failing_parent_fails_its_waiting_dependents_transitively() -> None:
    h = BatchHarness()
    doc, pid = parent("bad")
    asyncio.run(h.jobs.claim(pid, parse_model(JobRequest, doc), 300, "m-parent"))
    child = one(h, dependent(pid), "m-child")
    grandchild = one(h, dependent(child.job_id), "m-grandchild")
    assert (child.status, grandchild.status) == ("WAITING", "WAITING")
    asyncio.run(h.jobs.release(pid, 1))
    assert one(h, doc, "m-parent").status == "FAILED"
    statuses = [o.jobs[0].status for o in h.drain()]
    assert statuses == ["FAILED", "FAILED"]
    for job_id in (child.job_id, grandchild.job_id):
        assert h.jobs.records[job_id]["error"]["code"] == "dependency_failed"
        assert ended(h, "job.failed")[job_id] == 1
    assert h.media.inputs.keys() == {pid}  # only the parent ran


def test_a_parent_with_no_record_is_refused() -> None:
    h = BatchHarness()
    missing = "j-" + "0" * 24
    child = one(h, job(None, "a", after=[missing]), "m-child")
    assert child.status == "FAILED"
    assert child.error is not None
    assert child.error.code == "invalid_request"
    assert child.error.message == "after[0]: names no job"
    assert h.media.runs == []


def test_a_parent_ending_between_register_and_recheck_starts_it_at_once() -> None:
    h = BatchHarness()
    doc, pid = parent()
    asyncio.run(h.jobs.claim(pid, parse_model(JobRequest, doc), 300, "m-parent"))
    store: JobStore = h.jobs
    register = store.add_dependent

    async def parent_ends_first(parent_id: str, job_id: str) -> bool:
        # The parent's ending reads its dependents before this one is added: it sends none.
        await h.jobs.release(parent_id, 1)
        outcome = await h.dispatcher.handle(QueueMessage("m-parent", json.dumps(doc), 1))
        assert outcome.jobs[0].status == "COMPLETED"
        assert h.queue.depth() == 0
        return await register(parent_id, job_id)

    h.jobs.add_dependent = parent_ends_first  # type: ignore[method-assign]
    child = one(h, dependent(pid), "m-child")
    assert child.status == "COMPLETED"  # the recheck found the parent done
    assert h.media.inputs[child.job_id] == output_of(h, pid)
    assert ended(h, "job.completed") == {pid: 1, child.job_id: 1}


def test_a_batch_job_waits_for_a_job_outside_the_batch() -> None:
    h = BatchHarness()
    doc, pid = parent()
    asyncio.run(h.jobs.claim(pid, parse_model(JobRequest, doc), 300, "m-parent"))
    h.send(batch("b-ext", job("x", "b"), {**dependent(pid), "name": "y", "after": ["x"]}))
    outcomes = h.drain()
    assert sorted(o.jobs[0].status for o in outcomes) == ["COMPLETED", "WAITING"]
    asyncio.run(h.jobs.release(pid, 1))
    one(h, doc, "m-parent")
    assert [o.jobs[0].status for o in h.drain()] == ["COMPLETED"]
    [done] = h.of_type("batch.completed")
    assert (done["completed"], done["failed"]) == (2, 0)
    [y] = [j for j in done["jobs"] if j["name"] == "y"]
    assert h.media.inputs[y["job_id"]] == output_of(h, pid)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"version": 2, "input": {"from": "j-nope", "output": "mp4"}}, "input.from:"),
        ({"version": 2, "input": {"from": "j-" + "a" * 24, "output": "a b"}}, "input.output:"),
        ({"version": 2, "input": {"from": "j-" + "a" * 24, "key": "x"}}, "input:"),
        (job(None, "a", after=["not-a-job"]), "after.0:"),
        (job(None, "a", after=["j-" + "a" * 24] * 17), "after:"),
    ],
)
def test_a_malformed_dependency_is_refused_at_submission(doc: dict[str, Any], field: str) -> None:
    h = BatchHarness()
    with pytest.raises(InvalidMessage) as refused:
        normalize(json.dumps(doc), h.settings.intake)
    assert refused.value.code == "invalid_request"
    assert f"{field}" in refused.value.message


def test_the_sample_names_its_parents_and_keeps_its_input_source() -> None:
    body = (EVENTS / "job-request-after.json").read_text()
    [request] = normalize(body, BatchHarness().settings.intake).requests
    assert request.input_from is not None
    assert (request.input_from.job_id, request.input_from.output) == (
        "j-3f9a1c07d2e84b6a95c1e0f7", "mp4",
    )  # fmt: skip
    assert request.parents == ("j-8b20d4e6f1a37c59e02b4d81", "j-3f9a1c07d2e84b6a95c1e0f7")
    # Sent again by a parent's ending, the request reads back as itself: the same job id.
    again = normalize(request.model_dump_json(exclude_none=True), BatchHarness().settings.intake)
    assert derive_job_id(again.requests[0], None) == derive_job_id(request, None)


@pytest.mark.parametrize("key", ["a", "bad"])
def test_a_dependent_cancelled_while_waiting_fails_its_own_dependents(key: str) -> None:
    h = BatchHarness()
    doc, pid = parent(key)
    asyncio.run(h.jobs.claim(pid, parse_model(JobRequest, doc), 300, "m-parent"))
    child = one(h, dependent(pid), "m-child")
    grandchild = one(h, dependent(child.job_id), "m-grandchild")
    cancel = {"version": 2, "cancel": {"job_id": child.job_id}}
    answer = asyncio.run(h.dispatcher.cancel(CancelRequest.model_validate(cancel)))
    assert (answer.outcome, answer.status) == ("cancelled", JobStatus.WAITING)
    asyncio.run(h.jobs.release(pid, 1))
    assert one(h, doc, "m-parent").status == ("COMPLETED" if key == "a" else "FAILED")
    assert [o.jobs[0].status for o in h.drain()] == ["DUPLICATE", "FAILED"]
    assert h.jobs.records[child.job_id]["status"] == JobStatus.CANCELLED
    assert h.jobs.records[grandchild.job_id]["error"]["code"] == "dependency_failed"
    assert ended(h, "job.failed")[grandchild.job_id] == 1
    assert ended(h, "job.failed")[child.job_id] == 0
    assert h.media.inputs.keys() == {pid}


def test_a_batch_job_may_not_be_named_like_a_job_id() -> None:
    h = BatchHarness()
    [refused] = h.send(batch("b-names", job("j-" + "a" * 24, "a"))).jobs
    assert refused.error is not None
    assert refused.error.code == "invalid_request"
    assert refused.error.message.startswith("batch.jobs[0].name: a job id")
    assert h.queue.depth() == 0
