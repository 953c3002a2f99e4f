"""Write the JSON Schemas of the contracts other systems see into ``events/schemas/``.

    python -m handlers.schemas            # (re)write them
    python -m handlers.schemas --check    # exit 1 when the committed files are out of date

One schema for each request, job, batch and cancel (what a producer sends; the validation
form), and one per event type (what a consumer receives; the serialization form). They are
generated from the pydantic models in :mod:`core.models`, :mod:`core.jobs.batch_model`,
:mod:`core.jobs.cancel_request` and :mod:`core.events.contract`, never edited by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from core.events.contract import ENVELOPES
from core.jobs.batch_model import BatchMessage
from core.jobs.cancel_request import CancelRequest
from core.jobs.input_from import InputFromJob
from core.models import JobRequest

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "events" / "schemas"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _document(name: str, schema: dict[str, Any], description: str) -> str:
    doc = {"$schema": _DIALECT, "$id": f"urn:ffapi:schema:{name}", **schema}
    doc["description"] = description
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _request_schema() -> dict[str, Any]:
    """JobRequest's, with ``input``'s second form: a job's output (``{"from", "output"}``),
    which intake turns into the request's ``input_from`` (core.jobs.input_from)."""
    schema = JobRequest.model_json_schema(mode="validation")
    wire = InputFromJob.model_json_schema(mode="validation")
    schema["$defs"].update(wire.pop("$defs", {}))
    schema["$defs"]["InputFromJob"] = wire
    schema["properties"]["input"] = {
        "anyOf": [schema["properties"]["input"], {"$ref": "#/$defs/InputFromJob"}]
    }
    return schema


def render() -> dict[str, str]:
    """File name -> its text."""
    files = {
        "job-request.schema.json": _document(
            "job-request",
            _request_schema(),
            "FFAPI job request (version 1: a preset; version 2: a preset or typed steps): the "
            "body of an SQS message sent to the jobs queue.",
        ),
        "batch-request.schema.json": _document(
            "batch-request",
            BatchMessage.model_json_schema(mode="validation"),
            "FFAPI batch request: the body of an SQS message sent to the jobs queue to fan out "
            "many jobs as one batch (each job a job request, with a batch-local name and its "
            "dependencies), or to name a manifest object holding one.",
        ),
        "cancel-request.schema.json": _document(
            "cancel-request",
            CancelRequest.model_json_schema(mode="validation"),
            "FFAPI cancel request: the body of an SQS message sent to the jobs queue to cancel "
            "one job, queued, retrying or running.",
        ),
    }
    for type_, model in ENVELOPES.items():
        files[f"{type_.value}.schema.json"] = _document(
            type_.value,
            model.model_json_schema(mode="serialization"),
            f"The {type_.value} CloudEvent (1.0, structured JSON) as SNS and webhooks carry it.",
        )
    return files


def stale(directory: Path = SCHEMA_DIR) -> list[str]:
    """The schema files that differ from the models (or are missing, or left over)."""
    wanted = render()
    present = {p.name for p in directory.glob("*.schema.json")}
    changed = [
        name
        for name, text in wanted.items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]
    return sorted(changed + list(present - wanted.keys()))


def write(directory: Path = SCHEMA_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    wanted = render()
    for leftover in {p.name for p in directory.glob("*.schema.json")} - wanted.keys():
        (directory / leftover).unlink()
    for name, text in wanted.items():
        (directory / name).write_text(text)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if out_of_date := stale():
            print(f"out of date: {', '.join(out_of_date)}; run python -m handlers.schemas")
            return 1
        return 0
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
