"""What a security case is: how its input reaches the worker, and what must come of it.

A case builds a ``Submission`` (objects to put, and the queue message to send, if any) from
a ``Ctx``: the stack's names, the canary, the media fixtures and the case's own tag. The tag
is in every key, URL and correlation id the case makes, so events, log lines, tool runs and
canary hits can be told apart per case while all of them run at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from infra.settings import Settings

from .canary import Canary
from .hostile import MediaFixtures

# Codes refused at intake, before anything is downloaded: no ffprobe, no ffmpeg.
MESSAGE_CODES = frozenset({
    "invalid_request", "malformed_json", "unrecognized_message", "forbidden_bucket",
    "invalid_key", "forbidden_prefix", "forbidden_webhook",
})  # fmt: skip
# Refused before anything is downloaded (the input's identity is checked first).
UNOPENED_CODES = MESSAGE_CODES | {"input_not_found", "input_changed"}
# Codes refused from the probe: ffprobe runs, ffmpeg never does.
MEDIA_CODES = frozenset({
    "unsupported_format", "unsupported_codec", "unsupported_media", "input_too_large",
    "input_too_long", "frame_too_large", "too_many_streams", "invalid_media",
})  # fmt: skip

HLS = "application/vnd.apple.mpegurl"


@dataclass(frozen=True)
class Expect:
    """The acceptable outcomes: one job.failed with one of ``codes`` (retryable false), one
    job.completed (``completes``), or no job at all (``ignored``: acknowledged, nothing run)."""

    codes: frozenset[str] = frozenset()
    completes: bool = False
    ignored: bool = False
    # ffmpeg may run before the failure is known (a file that breaks only when decoded)
    may_encode: bool = False

    @property
    def label(self) -> str:
        parts = sorted(self.codes)
        if self.completes:
            parts.append("completed")
        if self.ignored:
            parts.append("ignored")
        return " | ".join(parts)


def fails(*codes: str) -> Expect:
    return Expect(codes=frozenset(codes))


COMPLETES = Expect(completes=True)


@dataclass(frozen=True)
class Put:
    bucket: str
    key: str
    body: bytes
    content_type: str = "video/mp4"


@dataclass(frozen=True)
class Submission:
    puts: tuple[Put, ...] = ()
    body: str | None = None  # sent to the jobs queue as it is; None: the upload is the job


@dataclass(frozen=True)
class Ctx:
    tag: str
    settings: Settings
    canary: Canary
    media: MediaFixtures
    foreign_bucket: str

    def url(self, name: str = "x") -> str:
        """A canary URL that names this case."""
        return self.canary.url(f"{self.tag}/{name}")

    @property
    def port(self) -> int:
        """A canary port of this case's own (see Canary.port_for)."""
        return self.canary.port_for(self.tag)

    @property
    def secret_path(self) -> str:
        return str(self.canary.secret_file)

    @property
    def secret_relative(self) -> str:
        """The secret file from the job directory's ``input/`` (workers' dirs are
        ``{root}/{worker}/ffapi-.../input``; the secret is ``{root}/secret.txt``)."""
        return "../../../" + self.canary.secret_file.name

    def staged(self, name: str) -> str:
        """A key in the input bucket outside the watched prefix: only a request starts it."""
        return f"security/{self.tag}/{name}"

    def watched(self, name: str) -> str:
        return f"{self.settings.watch_prefix}{self.tag}/{name}"

    def put(self, key: str, body: bytes, content_type: str = "video/mp4") -> Put:
        return Put(self.settings.input_bucket, key, body, content_type)

    def output(self, prefix: str, bucket: str | None = None) -> dict[str, str]:
        return {"bucket": bucket or self.settings.output_bucket, "prefix": prefix}

    def request(self, key: str, **fields: Any) -> str:
        """A direct JobRequest for ``key`` in the input bucket; ``fields`` added or replaced
        (``input`` is merged)."""
        doc: dict[str, Any] = {
            "version": 1,
            "input": {"bucket": self.settings.input_bucket, "key": key},
            "correlation_id": self.tag,
        }
        doc["input"].update(fields.pop("input", {}))
        doc.update(fields)
        return json.dumps(doc)

    def s3_event(self, key: str, bucket: str | None = None) -> str:
        """An S3 ObjectCreated notification, keys URL-encoded as S3 sends them."""
        record = {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": self.settings.region,
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": bucket or self.settings.input_bucket},
                "object": {"key": quote_plus(key, safe="/"), "size": 1000},
            },
        }
        return json.dumps({"Records": [record]})

    def sns_s3_event(self, key: str) -> str:
        """The same notification as an SNS topic delivers it to a queue."""
        return json.dumps({"Type": "Notification", "Message": self.s3_event(key)})

    def eventbridge_event(self, key: str) -> str:
        """EventBridge's "Object Created" (keys as written, not URL-encoded)."""
        detail = {
            "bucket": {"name": self.settings.input_bucket},
            "object": {"key": key, "size": 1000},
        }
        return json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": detail})


Build = Callable[[Ctx], Submission]


@dataclass(frozen=True)
class Case:
    name: str
    build: Build
    expect: Expect
    # Injected text that must reach no ffmpeg/ffprobe argument; built from the context.
    marks: Callable[[Ctx], tuple[str, ...]] = field(default=lambda ctx: ())


def upload(name: str, body: Callable[[Ctx], bytes], content_type: str = "video/mp4") -> Build:
    """The file put under the watched prefix: S3's own notification starts the job."""
    return lambda ctx: Submission(puts=(ctx.put(ctx.watched(name), body(ctx), content_type),))


Fields = Callable[[Ctx], dict[str, Any]]


def staged_request(
    name: str,
    body: Callable[[Ctx], bytes],
    content_type: str = "video/mp4",
    fields: Fields | None = None,
) -> Build:
    """The file put outside the watched prefix, and a direct request for it (with
    ``fields`` added to the request)."""

    def build(ctx: Ctx) -> Submission:
        key = ctx.staged(name)
        extra = fields(ctx) if fields else {}
        return Submission(
            puts=(ctx.put(key, body(ctx), content_type),), body=ctx.request(key, **extra)
        )

    return build


def message(body: Callable[[Ctx], str], *puts: Callable[[Ctx], Put]) -> Build:
    return lambda ctx: Submission(puts=tuple(p(ctx) for p in puts), body=body(ctx))
