"""A batch document checked whole, and the plan made of it (:class:`BatchPlan`).

Every job is checked as a direct request would be (the model, admission, a watched output),
and the batch's own rules on top: unique names, ``after`` naming jobs of the batch, no cycle,
``input.from`` naming a parent (it implies ``after``). A job id (``j-`` and 24 hex digits) in
``after`` or ``input.from`` names a job outside the batch: it goes into the job's own request,
waited for when the job's message is handled (:mod:`core.jobs.job_deps`). The first problem
refuses the whole batch with ``invalid_request`` naming its place
(``batch.jobs[3].input.key: ...``); nothing is created. Each job's id is derived from the
batch id and its index (its ``idempotency_key``, ``core.jobs.results.derive_job_id``): a
resent batch names the same jobs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import JsonValue

from core.errors import FfapiError, InvalidMessage
from core.jobs.batch_model import (
    JOB_ID,
    MAX_PLAN_BYTES,
    BatchDoc,
    BatchPlan,
    InputFrom,
    JobPlace,
    PlannedJob,
    admit_job,
    batch_key,
)
from core.jobs.input_from import names_job, take_input_from
from core.jobs.intake import parse_model
from core.jobs.results import derive_job_id, output_key, resolve_preset
from core.jobs.watch import IntakeConfig
from core.models import BatchRef, JobRequest, S3ObjectRef
from core.presets import PresetCatalog

_BATCH_SET = ("idempotency_key", "batch")  # fields the batch sets on each job
PENDING_INPUT = "pending"  # a dependent's input key until its parent's output is known


@dataclass(frozen=True, slots=True)
class _Parsed:
    index: int
    place: JobPlace
    source: InputFrom | None
    request: JobRequest

    @property
    def where(self) -> str:
        return f"batch.jobs[{self.index}]"


@dataclass(frozen=True, slots=True)
class Submission:
    plan: BatchPlan
    roots: tuple[JobRequest, ...]  # the jobs sent at the fan-out: those without parents


def plan_batch(
    doc: BatchDoc, config: IntakeConfig, catalog: PresetCatalog | None = None
) -> Submission:
    """Raise InvalidMessage (``invalid_request``) at the first problem; with ``catalog``, a
    preset it lacks (or a ladder it cannot take) is one."""
    parsed = [_parse_job(doc.id, i, raw, config) for i, raw in enumerate(doc.jobs)]
    if catalog is not None:
        for p in parsed:
            _resolves(p, catalog)
    names = _names(parsed)
    ids = [derive_job_id(p.request, None) for p in parsed]
    parents = [_parents(p, names) for p in parsed]
    _refuse_cycle(parents)
    jobs, roots = [], []
    for p, after in zip(parsed, parents, strict=True):
        parent = parsed[names[p.source.from_]] if p.source else None
        request = _with_source(p, parent, ids[parent.index] if parent else "", config)
        waits = bool(after)
        jobs.append(
            PlannedJob(
                job_id=ids[p.index], index=p.index, name=p.place.name,
                after=tuple(ids[a] for a in after),
                output=p.source.output if p.source else None,
                request=request if waits else None,
            )
        )  # fmt: skip
        if not waits:
            roots.append(request)
    plan = BatchPlan(batch_id=doc.id, key=batch_key(doc.id), digest=_digest(doc), jobs=tuple(jobs))
    if len(plan.packed()) > MAX_PLAN_BYTES:
        raise InvalidMessage(
            "batch.jobs: too much for one batch record (fewer jobs, or fewer waiting ones)"
        )
    return Submission(plan, tuple(roots))


def _parse_job(
    batch_id: str, index: int, raw: dict[str, JsonValue], config: IntakeConfig
) -> _Parsed:
    where = f"batch.jobs[{index}]"
    fields: dict[str, Any] = dict(raw)
    place = parse_model(
        JobPlace, {k: fields.pop(k) for k in ("name", "after") if k in fields}, where
    )
    for name in _BATCH_SET:
        if name in fields:
            raise InvalidMessage(f"{where}.{name}: set by the batch, not by its jobs")
    source = None
    given = fields.get("input")
    if names_job(given):  # a job outside the batch, by id (core.jobs.job_deps)
        fields = take_input_from(fields, config, where)
    elif isinstance(given, dict) and "from" in given:
        source = parse_model(InputFrom, given, f"{where}.input")
        # Checked whole once the parent's output location is known (_with_source).
        fields["input"] = {"bucket": config.default_output.bucket, "key": PENDING_INPUT}
    request = parse_model(JobRequest, fields, where)
    ref = BatchRef(id=batch_id, index=index, name=place.name)
    if place.name is not None and JOB_ID.fullmatch(place.name):
        raise InvalidMessage(f"{where}.name: a job id, not a name (after would be ambiguous)")
    request = request.model_copy(
        update={
            "after": tuple(a for a in place.after if JOB_ID.fullmatch(a)),
            "output": request.output or config.default_output,
            "idempotency_key": f"{batch_id}/{index}",
            "batch": ref,
        }
    )
    return _Parsed(index, place, source, request)


def _resolves(p: _Parsed, catalog: PresetCatalog) -> None:
    try:
        resolve_preset(catalog, p.request)
    except FfapiError as exc:
        raise exc.at(p.where) from None


def _names(parsed: list[_Parsed]) -> dict[str, int]:
    names: dict[str, int] = {}
    for p in parsed:
        if p.place.name is None:
            continue
        if p.place.name in names:
            raise InvalidMessage(f"{p.where}.name: another job of the batch has this name")
        names[p.place.name] = p.index
    return names


def _parents(p: _Parsed, names: dict[str, int]) -> tuple[int, ...]:
    """The indexes of the jobs ``p`` waits for; ``input.from`` waits for its job too."""
    after = list(p.place.after)
    if p.source is not None and p.source.from_ not in after:
        after.append(p.source.from_)
    found: list[int] = []
    for k, name in enumerate(after):
        if JOB_ID.fullmatch(name):  # a job outside the batch: the request's own after
            continue
        if name not in names:
            field = f"after[{k}]" if k < len(p.place.after) else "input.from"
            raise InvalidMessage(f"{p.where}.{field}: no job of the batch has this name")
        if names[name] == p.index:
            raise InvalidMessage(f"{p.where}.after: a job cannot wait for itself")
        if names[name] not in found:
            found.append(names[name])
    return tuple(found)


def _refuse_cycle(parents: list[tuple[int, ...]]) -> None:
    """Kahn's order: what is left once every job that can start has is in a cycle."""
    waiting = {i: set(after) for i, after in enumerate(parents)}
    ready = [i for i, after in waiting.items() if not after]
    while ready:
        done = ready.pop()
        for i, after in waiting.items():
            if done in after:
                after.discard(done)
                if not after:
                    ready.append(i)
        waiting.pop(done)
    if waiting:  # each job left waits for one left: walking back from any ends in a cycle
        walked: list[int] = []
        job = min(waiting)
        while job not in walked:
            walked.append(job)
            job = min(waiting[job])
        first = min(walked[walked.index(job) :])
        raise InvalidMessage(f"batch.jobs[{first}].after: a cycle of jobs waiting for each other")


def _with_source(
    p: _Parsed, parent: _Parsed | None, parent_id: str, config: IntakeConfig
) -> JobRequest:
    """The request, admitted; a dependent's input stands in its parent's output folder
    until the parent's result names the object (core.jobs.batches)."""
    request = p.request
    try:
        if parent is not None and request.batch is not None:
            out = parent.request.output or config.default_output
            ref = S3ObjectRef(bucket=out.bucket, key=output_key(out, parent_id, PENDING_INPUT))
            batch = request.batch.model_copy(update={"input_from": parent_id})
            request = request.model_copy(update={"input": ref, "batch": batch})
        admit_job(config, request)
        places = (*([request.output] if request.output else []), *request.destinations)
        if any(config.watches(place) for place in places):
            raise InvalidMessage("the output location is watched: its files would start new jobs")
    except FfapiError as exc:
        raise exc.at(p.where) from None
    return request


def _digest(doc: BatchDoc) -> str:
    text = json.dumps(doc.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
