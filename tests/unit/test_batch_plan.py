"""A batch document checked whole (`core.jobs.batch_plan`): what is refused, naming where,
and the plan made of the rest (derived ids, parents, the dependent's pending input)."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import InvalidMessage
from core.jobs.batch_model import BatchDoc, admit_job
from core.jobs.batch_plan import plan_batch
from core.jobs.results import derive_job_id
from core.models import BatchRef, JobRequest, S3ObjectRef
from core.presets import builtin_catalog

from .batch_harness import job
from .dispatch_harness import INTAKE


def plan(*jobs: dict[str, Any], batch_id: str = "b1") -> Any:
    return plan_batch(BatchDoc.model_validate({"id": batch_id, "jobs": list(jobs)}), INTAKE)


def refusal(*jobs: dict[str, Any]) -> str:
    with pytest.raises(InvalidMessage) as caught:
        plan(*jobs)
    # The admission's own refusals keep their codes (forbidden_bucket, ...).
    assert caught.value.code == "invalid_request" or "bucket" in caught.value.message
    return caught.value.message


def test_job_ids_are_derived_from_the_batch_and_the_place() -> None:
    first = plan(job("x", "a"), job("y", "b"))
    again = plan(job("x", "a"), job("y", "b"))
    assert [j.job_id for j in first.plan.jobs] == [j.job_id for j in again.plan.jobs]
    assert first.plan.digest == again.plan.digest
    other = plan(job("x", "a"), job("y", "b"), batch_id="b2")
    assert not {j.job_id for j in first.plan.jobs} & {j.job_id for j in other.plan.jobs}
    assert [derive_job_id(r, None) for r in first.roots] == [j.job_id for j in first.plan.jobs]
    assert [r.batch.index for r in first.roots if r.batch] == [0, 1]


def test_a_dependent_is_kept_to_be_sent_later_with_its_parent_named() -> None:
    made = plan(job("x", "a"), {"version": 2, "input": {"from": "x", "output": "mp4"}})
    parent, child = made.plan.jobs
    assert [r.input.key for r in made.roots] == ["incoming/a.mp4"]  # only the parent goes now
    assert child.after == (parent.job_id,)
    assert child.output == "mp4"
    assert child.request is not None
    assert child.request.batch is not None
    assert child.request.batch.input_from == parent.job_id
    assert child.request.input.bucket == "ffapi-output"


@pytest.mark.parametrize(
    ("jobs", "where"),
    [
        ([job("x", "a", after=["y"]), job("y", "b", after=["x"])], "batch.jobs[0].after: a cycle"),
        (
            [job("x", "a", after=["z"]), job("y", "b", after=["x"]), job("z", "c", after=["y"])],
            "batch.jobs[0].after: a cycle",
        ),
        ([job("x", "a", after=["x"])], "batch.jobs[0].after: a job cannot wait for itself"),
        (  # the first job only waits downstream of the cycle: the cycle is named
            [job("w", "a", after=["y"]), job("x", "b", after=["y"]), job("y", "c", after=["x"])],
            "batch.jobs[1].after: a cycle",
        ),
        ([job("x", "a"), job("y", "b", after=["nope"])], "batch.jobs[1].after[0]: no job"),
        (
            [job("x", "a"), {"version": 2, "input": {"from": "nope", "output": "mp4"}}],
            "batch.jobs[1].input.from: no job",
        ),
        ([job("x", "a"), job("x", "b")], "batch.jobs[1].name: another job"),
        ([job("x", "a"), job("y", "b", idempotency_key="k")], "batch.jobs[1].idempotency_key"),
        ([job("x", "a"), job("y", "b", preset=7)], "batch.jobs[1].preset"),
        ([job("x", "a"), job("bad name", "b")], "batch.jobs[1].name"),
        (
            [job("x", "a"), {"version": 2, "input": {"from": "x"}}],
            "batch.jobs[1].input.output: Field required",
        ),
        (
            [job("x", "a"), job("y", "b", output={"bucket": "elsewhere"})],
            "batch.jobs[1]: output bucket",
        ),
    ],
)
def test_a_bad_batch_is_refused_naming_the_place(jobs: list[dict[str, Any]], where: str) -> None:
    assert where in refusal(*jobs)


def test_a_preset_the_catalog_lacks_refuses_the_batch() -> None:
    doc = BatchDoc.model_validate(
        {"id": "b1", "jobs": [job("x", "a"), job("y", "b", preset="nope")]}
    )
    with pytest.raises(InvalidMessage) as caught:
        plan_batch(doc, INTAKE, builtin_catalog())
    assert caught.value.message.startswith("batch.jobs[1]: unknown preset")
    assert plan_batch(doc.model_copy(update={"jobs": doc.jobs[:1]}), INTAKE, builtin_catalog())


def test_a_batch_id_is_ascii() -> None:
    with pytest.raises(ValueError, match="pattern"):
        BatchDoc.model_validate({"id": "nächtlich", "jobs": [job(None, "a")]})


def test_a_refusal_echoes_no_name_the_sender_gave() -> None:
    message = refusal(job("secret-name", "a", after=["other-secret"]))
    assert "secret" not in message


PARENT = "j-" + "0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("input_from", "bucket", "key", "admitted"),
    [
        (PARENT, "ffapi-output", f"outputs/{PARENT}/video.mp4", True),
        (PARENT, "ffapi-output", f"outputs/{PARENT}/encode/video.mp4", True),  # a step's
        (PARENT, "ffapi-output", "outputs/j-ffffffffffffffffffffffff/video.mp4", False),
        (PARENT, "ffapi-output", f"elsewhere/{PARENT}/video.mp4", False),  # off the root
        ("outputs", "ffapi-output", "outputs/video.mp4", False),  # not a job id
        (None, "ffapi-output", f"outputs/{PARENT}/video.mp4", False),  # no parent named
    ],
)
def test_a_parents_output_is_admitted_from_its_own_folder_only(
    input_from: str | None, bucket: str, key: str, admitted: bool
) -> None:
    ref = BatchRef(id="b1", index=1, input_from=input_from)
    request = JobRequest(
        version=2, input=S3ObjectRef(bucket=bucket, key=key), output=INTAKE.default_output,
        batch=ref,
    )  # fmt: skip
    if admitted:
        admit_job(INTAKE, request)
        return
    with pytest.raises(InvalidMessage):
        admit_job(INTAKE, request)
