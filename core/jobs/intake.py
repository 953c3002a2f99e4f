"""Normalize every message shape that reaches the jobs queue into :class:`JobRequest` objects.

Accepted shapes: S3 event notifications (``Records``), the same wrapped in an SNS envelope,
EventBridge "Object Created" events, direct ``JobRequest`` bodies, batches (``batch`` or
``batch_manifest``: read here, fanned out by :mod:`core.jobs.batches`), cancel requests
(:mod:`core.jobs.cancel_request`), a long job's chunks (:mod:`core.jobs.chunk_model`, sent
by the worker), and ``s3:TestEvent`` (acknowledged and ignored). Anything
else raises :class:`InvalidMessage`: it can never succeed.

:func:`normalize` gives an :class:`Intake`: the requests, and what was ignored and why
(non-create records, folder markers, keys outside every watch rule). S3's URL-encoded keys
are read with ``unquote_plus``. A direct request is admitted (:mod:`core.jobs.admission`) and
refused when its output location is watched (its files would start new jobs).
:func:`named_inputs` reads what a body names, leniently, for the DLQ tools.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from core.errors import InvalidKey, InvalidMessage
from core.jobs.admission import key_problem
from core.jobs.batch_model import BatchMessage, admit_job
from core.jobs.cancel_request import CancelRequest, is_cancel
from core.jobs.chunk_model import ChunkMessage
from core.jobs.input_from import take_input_from
from core.jobs.watch import IntakeConfig
from core.models import ChunkRef, JobRequest, S3ObjectRef

M = TypeVar("M", bound=BaseModel)

MAX_BODY_BYTES = 256 * 1024  # SQS's own limit; anything larger did not come from SQS


@dataclass(frozen=True, slots=True)
class Intake:
    """What one queue message asks for: zero or more jobs, and why anything was skipped."""

    requests: tuple[JobRequest, ...] = ()
    ignored: tuple[str, ...] = field(default_factory=tuple)
    batch: BatchMessage | None = None  # a batch to fan out (core.jobs.batches)
    cancels: tuple[CancelRequest, ...] = ()  # jobs to stop (core.jobs.cancel)
    chunks: tuple[ChunkRef, ...] = ()  # a split job's chunk to run (core.jobs.chunks)


# --- the wire shapes, lenient about fields AWS adds, strict about the ones we use -----------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _S3Bucket(_Lenient):
    name: str


class _S3Object(_Lenient):
    key: str
    size: int | None = None
    e_tag: str | None = Field(default=None, alias="eTag")
    version_id: str | None = Field(default=None, alias="versionId")


class _S3Entity(_Lenient):
    bucket: _S3Bucket
    object: _S3Object


class S3EventRecord(_Lenient):
    event_source: str = Field(alias="eventSource")
    event_name: str = Field(alias="eventName")
    s3: _S3Entity


class S3Event(_Lenient):
    records: list[S3EventRecord] = Field(alias="Records", max_length=100)


class SnsEnvelope(_Lenient):
    type: str = Field(alias="Type")
    message: str = Field(alias="Message")


class _EbObject(_Lenient):
    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = Field(default=None, alias="version-id")


class _EbDetail(_Lenient):
    bucket: _S3Bucket
    object: _EbObject


class EventBridgeS3Event(_Lenient):
    source: str
    detail_type: str = Field(alias="detail-type")
    detail: _EbDetail


# --- normalization ---------------------------------------------------------------------------


def normalize(body: str | bytes, config: IntakeConfig) -> Intake:
    """Turn one SQS message body into the jobs it asks for."""
    size = len(body.encode() if isinstance(body, str) else body)
    if size > MAX_BODY_BYTES:
        raise InvalidMessage("message body exceeds 256 KiB", code="invalid_request")
    doc = _load_json(body, "message body")
    if not isinstance(doc, dict):
        raise InvalidMessage("message body is not a JSON object", code="unrecognized_message")
    return _normalize_doc(doc, config, depth=0)


def _normalize_doc(doc: dict[str, Any], config: IntakeConfig, depth: int) -> Intake:
    if doc.get("Event") == "s3:TestEvent":
        return Intake(ignored=("s3:TestEvent",))
    if "Records" in doc:
        return _from_s3_event(_parse(S3Event, doc), config)
    if doc.get("Type") == "Notification" and "Message" in doc and depth == 0:
        inner = _load_json(_parse(SnsEnvelope, doc).message, "SNS Message")
        if not isinstance(inner, dict):
            raise InvalidMessage("SNS Message is not a JSON object", code="unrecognized_message")
        return _normalize_doc(inner, config, depth=1)
    if doc.get("source") == "aws.s3" and "detail-type" in doc:
        return _from_eventbridge(_parse(EventBridgeS3Event, doc), config)
    if is_cancel(doc):
        return Intake(cancels=(_parse(CancelRequest, doc),))
    if "batch_manifest" in doc or ("batch" in doc and "input" not in doc):  # a job's is its ref
        return Intake(batch=_parse(BatchMessage, doc))
    if "chunk" in doc and "input" not in doc:
        return Intake(chunks=(_parse(ChunkMessage, doc).chunk,))
    if "input" in doc or "version" in doc:
        return _direct(doc, config)
    raise InvalidMessage(
        "message is not a job request or a known event", code="unrecognized_message"
    )


def _direct(doc: dict[str, Any], config: IntakeConfig) -> Intake:
    """A job request sent as the body, admitted."""
    request = _parse(JobRequest, take_input_from(doc, config))  # input.from: a job
    if request.chunk is not None:  # a chunk's request is its parent's plan's
        raise InvalidMessage("chunk: set by the worker only", code="invalid_request")
    output = request.output or config.default_output
    request = request.model_copy(update={"output": output})
    admit_job(config, request)
    if any(config.watches(place) for place in (output, *request.destinations)):
        raise InvalidMessage(
            "the output location is watched: its files would start new jobs",
            code="invalid_request",
        )
    return Intake(requests=(request,))


def _from_s3_event(event: S3Event, config: IntakeConfig) -> Intake:
    outcomes: list[JobRequest | str] = []
    for record in event.records:
        if record.event_source != "aws:s3" or not record.event_name.startswith("ObjectCreated:"):
            outcomes.append(f"{record.event_source} {record.event_name}")
            continue
        obj = record.s3.object
        # S3 URL-encodes keys in notifications: '+' for spaces on AWS, %20 on LocalStack, and
        # moto also encodes '/' as %2F. unquote_plus reads all three.
        key = unquote_plus(obj.key)
        outcomes.append(
            _job_for(
                config,
                record.s3.bucket.name,
                key=key,
                etag=obj.e_tag,
                version_id=obj.version_id,
                size=obj.size,
            )
        )
    return _collect(outcomes)


def _from_eventbridge(event: EventBridgeS3Event, config: IntakeConfig) -> Intake:
    if event.detail_type != "Object Created":
        return Intake(ignored=(f"aws.s3 {event.detail_type}",))
    obj = event.detail.object  # EventBridge carries the key as written, not URL-encoded
    return _collect(
        [
            _job_for(
                config,
                event.detail.bucket.name,
                key=obj.key,
                etag=obj.etag,
                version_id=obj.version_id,
                size=obj.size,
            ),
        ]
    )


def _job_for(
    config: IntakeConfig,
    bucket: str,
    *,
    key: str,
    etag: str | None,
    version_id: str | None,
    size: int | None,
) -> JobRequest | str:
    """The job an object announcement asks for, or why it asks for none."""
    if key.endswith("/"):
        return f"folder marker s3://{bucket}/{key}"
    rule = config.rule_for(bucket, key)
    if rule is None:
        return f"no watch rule for s3://{bucket}/{key}"
    # A watched upload whose name breaks the key rules fails the message: S3 announces one
    # object per message, so no other job rides on it.
    if (problem := key_problem(key)) is not None:
        raise InvalidKey(f"input key {problem}")
    ref = _parse(
        S3ObjectRef,
        {
            "bucket": bucket,
            "key": key,
            "etag": etag and etag.strip('"'),
            "version_id": version_id,
            "size": size,
        },
    )
    return JobRequest(input=ref, preset=rule.preset, output=rule.output)


def _collect(outcomes: list[JobRequest | str]) -> Intake:
    return Intake(
        requests=tuple(o for o in outcomes if isinstance(o, JobRequest)),
        ignored=tuple(o for o in outcomes if isinstance(o, str)),
    )


def _load_json(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: hostile nesting depth
        raise InvalidMessage(f"{what} is not JSON", code="malformed_json") from exc


def parse_model(model: type[M], doc: dict[str, Any], where: str = "") -> M:
    """``doc`` as ``model``, or InvalidMessage (``invalid_request``) saying where and why,
    without echoing the sender's text; ``where``: the document's place in a larger one
    (``batch.jobs[3]``)."""
    return _parse(model, doc, where)


def _parse(model: type[M], doc: dict[str, Any], where: str = "") -> M:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise InvalidMessage(_describe(model, exc, where), code="invalid_request") from exc


def _describe(model: type[BaseModel], exc: ValidationError, where: str = "") -> str:
    # Never echo input: values are left out, and a location names only fields we define
    # (an unknown field's name or a metadata key is the sender's text, so it is elided).
    errors = _primary(exc.errors(include_input=False, include_url=False))
    problems = []
    for err in errors[:5]:
        loc = list(err["loc"])
        if err["type"] == "extra_forbidden":
            problems.append(f"{_loc(loc[:-1])}: unexpected field")
        elif err["type"] == "union_tag_invalid":  # pydantic's text quotes the sender's tag
            ctx = err.get("ctx", {})
            problems.append(
                f"{_loc(loc)}: unknown {ctx.get('discriminator', 'tag')}"
                f" (expected one of {ctx.get('expected_tags', '?')})"
            )
        else:
            problems.append(f"{_loc(loc)}: {err['msg']}")
    if where:
        problems = [
            where + p.removeprefix("<root>") if p.startswith("<root>") else f"{where}.{p}"
            for p in problems
        ]
    return f"invalid {model.__name__}: " + "; ".join(problems)


def _primary(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Without the length errors that only echo another: a list whose item failed is
    counted without it ("at least 1 item ... not 0")."""
    locs = [tuple(e["loc"]) for e in errors]
    return [
        e
        for e in errors
        if e["type"] != "too_short"
        or not any(len(o) > len(e["loc"]) and o[: len(e["loc"])] == tuple(e["loc"]) for o in locs)
    ]


def _loc(parts: list[int | str]) -> str:
    if len(parts) >= 2 and parts[0] == "steps" and isinstance(parts[1], int):
        return _step_loc(parts)
    shown = ["<key>" if i and parts[i - 1] == "metadata" else str(p) for i, p in enumerate(parts)]
    return ".".join(shown) or "<root>"


def _step_loc(parts: list[int | str]) -> str:
    """``steps[0] (trim).end``: the index, then the op (pydantic's tag, one of ours), then
    the field, indexes in brackets (``steps[1] (concat).inputs[0]``)."""
    text = f"steps[{parts[1]}]"
    rest = parts[2:]
    if rest and isinstance(rest[0], str):
        text += f" ({rest[0]})"
        rest = rest[1:]
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


# --- what a message names, for people looking at one (the DLQ tools) -------------------------


@dataclass(frozen=True, slots=True)
class Named:
    """An object a message names: its ``s3://`` URL, and the preset a request asks for."""

    url: str
    preset: str | None = None


def named_inputs(body: str) -> tuple[Named, ...]:
    """The objects a message names, whatever the watch rules and limits would make of it
    (a dead letter may be one they refused); () when it names none that can be read."""
    doc = _json_or_none(body)
    if isinstance(doc, dict) and doc.get("Type") == "Notification":
        doc = _json_or_none(doc.get("Message"))  # an S3 event delivered through SNS
    if not isinstance(doc, dict):
        return ()
    try:
        return _named(doc)
    except ValidationError:
        return ()


def _named(doc: dict[str, Any]) -> tuple[Named, ...]:
    if "Records" in doc:
        # S3 URL-encodes the keys it announces (the worker reads them so too)
        event = S3Event.model_validate(doc)
        return tuple(
            Named(_url(r.s3.bucket.name, unquote_plus(r.s3.object.key))) for r in event.records
        )
    if doc.get("source") == "aws.s3":
        detail = EventBridgeS3Event.model_validate(doc).detail  # the key as written
        return (Named(_url(detail.bucket.name, detail.object.key)),)
    if isinstance(doc.get("input"), dict):
        ref = _NamedRequest.model_validate(doc)
        return (Named(_url(ref.input.bucket, ref.input.key), ref.preset or "default"),)
    return ()


class _NamedObject(_Lenient):
    bucket: str
    key: str


class _NamedRequest(_Lenient):
    input: _NamedObject
    preset: str | None = None


def _url(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def _json_or_none(text: object) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
