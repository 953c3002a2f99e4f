"""``input: {"from": "j-...", "output": "mp4"}``: a job's input named as another job's output.

On the wire the parent is named in ``input``; the request keeps it in ``input_from`` (with
``input`` standing in the parent's folder of the default output until the parent's result
names the object: :mod:`core.jobs.job_deps` resolves it, whatever ``input`` says). The shape is
checked here, at submission; that the parent exists is checked when the job's message is
handled (the parent must have a record by then).
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import InvalidMessage
from core.jobs.batch_model import JOB_ID
from core.jobs.results import output_key
from core.jobs.watch import IntakeConfig
from core.models import InputFrom, S3ObjectRef

_OUTPUT = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
PENDING_INPUT = "pending"  # the stand-in input's file name, in the parent's folder


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
    if set(given) - {"from", "output"}:
        raise InvalidMessage(f"{at}: unexpected field (give from and output)")
    if not names_job(given):
        raise InvalidMessage(f"{at}.from: not a job id (j- and 24 hex digits)")
    output = given.get("output")
    if not isinstance(output, str) or not _OUTPUT.fullmatch(output):
        raise InvalidMessage(f"{at}.output: an output name (a step, a role or an extension)")
    out = config.default_output
    stand_in = S3ObjectRef(
        bucket=out.bucket, key=output_key(out, given["from"], PENDING_INPUT)
    ).model_dump(mode="json", exclude_none=True)
    source = InputFrom(job_id=given["from"], output=output).model_dump(mode="json")
    return {**fields, "input": stand_in, "input_from": source}
