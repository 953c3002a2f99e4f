"""Check a published event as a consumer would: valid CloudEvents 1.0 by the CloudEvents SDK,
and valid against the committed JSON Schema of its type (``events/schemas/``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from cloudevents.http import from_http
from jsonschema import Draft202012Validator, FormatChecker

SCHEMAS = Path(__file__).parents[1] / "events" / "schemas"


@cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def check_event(body: str) -> dict[str, Any]:
    """The parsed event; raises when it breaks either contract."""
    event: dict[str, Any] = json.loads(body)
    # Structured mode over HTTP, as a webhook receiver reads it; the SDK checks the
    # required attributes and the spec version.
    parsed = from_http({"content-type": "application/cloudevents+json"}, body)
    assert parsed["specversion"] == "1.0"
    for attribute in ("id", "source", "type", "subject"):
        assert parsed[attribute] == event[attribute], attribute
    assert all(name.isalnum() and name.islower() for name in event if name != "data")
    validator(event["type"]).validate(event)
    return event
