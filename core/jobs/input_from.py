"""``input: {"from": "j-...", "output": "mp4"}``: a job's input named as another job's output.

On the wire the parent is named in ``input``; the request keeps it in ``input_from`` (with
``input`` standing in the parent's folder of the default output until the parent's result
names the object: :mod:`core.jobs.job_deps` resolves it, whatever ``input`` says). The shape is
checked here, at submission; that the parent exists is checked when the job's message is
handled (the parent must have a record by then).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import InvalidMessage
from core.jobs.batch_model import JOB_ID, OutputName
from core.jobs.results import output_key
from core.jobs.watch import IntakeConfig
from core.models import InputFrom, JobId, S3ObjectRef

PENDING_INPUT = "pending"  # the stand-in input's file name, in the parent's folder


class InputFromJob(BaseModel):
    """``input`` as a sender names a job's output (the request schema's second form)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="InputFromJob")
    from_: JobId = Field(alias="from", description="the job (by id) whose output is the input")
    output: OutputName = Field(description="its output: a step name, a role or an extension")


_PROBLEMS = {
    "from": "not a job id (j- and 24 hex digits)",
    "output": "an output name (a step, a role or an extension)",
}


def names_job(given: object) -> bool:
    """Is ``given`` an ``input`` naming a job by id (not a batch-local name)?"""
    return (
        isinstance(given, dict)
        and isinstance(given.get("from"), str)
        and JOB_ID.fullmatch(given["from"]) is not None
    )


def take_input_from(
    fields: dict[str, Any], config: IntakeConfig, where: str = ""
) -> dict[str, Any]:
    """``fields`` (a job request's, as sent) with an ``input.from`` naming a job moved to
    ``input_from``; InvalidMessage (``invalid_request``) naming the field when its shape is
    wrong. ``where``: the request's place in a larger document (``batch.jobs[3]``)."""
    given = fields.get("input")
    if not (isinstance(given, dict) and "from" in given):
        return fields
    at = f"{where}.input" if where else "input"
    try:
        wire = InputFromJob.model_validate(given)
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        field = str(errors[0]["loc"][0]) if errors[0]["loc"] else ""
        if any(e["type"] == "extra_forbidden" for e in errors) or field not in _PROBLEMS:
            raise InvalidMessage(f"{at}: unexpected field (give from and output)") from None
        raise InvalidMessage(f"{at}.{field}: {_PROBLEMS[field]}") from None
    out = config.default_output
    stand_in = S3ObjectRef(bucket=out.bucket, key=output_key(out, wire.from_, PENDING_INPUT))
    source = InputFrom(job_id=wire.from_, output=wire.output)
    return {
        **fields,
        "input": stand_in.model_dump(mode="json", exclude_none=True),
        "input_from": source.model_dump(mode="json"),
    }
