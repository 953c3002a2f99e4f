"""The batch samples in events/batch/: each message is read as a batch, and planned (or
refused) as the README says; every file there is checked here."""

from __future__ import annotations

import pytest

from core.errors import InvalidMessage
from core.jobs.batch_model import BatchDoc, BatchMessage
from core.jobs.batch_plan import Submission, plan_batch
from core.jobs.intake import normalize
from core.presets import builtin_catalog
from tests.unit.sample_bodies import CONFIG, EVENTS, load_event, read_event

SAMPLES = EVENTS / "batch"


def message(name: str) -> BatchMessage:
    batch = normalize(read_event(f"batch/{name}"), CONFIG).batch
    assert batch is not None
    return batch


def planned(name: str) -> Submission:
    doc = message(name).batch
    assert doc is not None
    return plan_batch(doc, CONFIG, builtin_catalog())


def test_every_batch_sample_is_checked() -> None:
    assert {p.name for p in SAMPLES.glob("*.json")} == {
        "batch.json", "batch-dependencies.json", "batch-manifest.json", "manifest.json",
        "invalid-batch-cycle.json",
    }  # fmt: skip


def test_a_batch_sends_every_job_at_once() -> None:
    made = planned("batch.json")
    assert made.plan.total == 3
    assert [r.input.key for r in made.roots] == [
        "library/talk.mp4", "library/keynote.mov", "library/panel.mp4",
    ]  # fmt: skip


def test_dependencies_wait_for_their_parent() -> None:
    made = planned("batch-dependencies.json")
    master, stream, preview = made.plan.jobs
    assert [r.batch.name for r in made.roots if r.batch] == ["master"]
    assert stream.after == preview.after == (master.job_id,)
    assert stream.output == "mp4"
    assert stream.request is not None
    assert stream.request.batch is not None
    assert stream.request.batch.input_from == master.job_id


def test_a_manifest_names_the_object_holding_the_batch() -> None:
    ref = message("batch-manifest.json").batch_manifest
    assert ref is not None
    assert (ref.bucket, ref.key) == ("ffapi-input", "batches/nightly-2026-12-07.json")
    doc = BatchDoc.model_validate(load_event("batch/manifest.json"))
    assert plan_batch(doc, CONFIG, builtin_catalog()).plan.total == 2


def test_a_cycle_is_refused() -> None:
    with pytest.raises(InvalidMessage) as caught:
        planned("invalid-batch-cycle.json")
    assert caught.value.code == "invalid_request"
    assert "batch.jobs[0].after: a cycle" in caught.value.message
