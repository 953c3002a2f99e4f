"""What a job request may touch: which buckets, which keys, where its outputs may go.

The schema (:mod:`core.models`) says a request is well formed; this says it is allowed. Every
refusal is permanent and has its own code (``forbidden_bucket``, ``invalid_key``,
``forbidden_prefix``, ``forbidden_webhook``). Messages never repeat a key or URL: they are
the sender's text, and an error travels into logs and events. Bucket names are safe to name
(the schema holds them to S3's alphabet).

Output prefixes are compared with the output root segment by segment. A refusal happens at
intake, before any job: its ``job.failed`` goes to the topic only, and the refused
request's own webhooks are never called.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from core.errors import (
    ForbiddenBucket,
    ForbiddenPrefix,
    ForbiddenWebhook,
    InvalidKey,
    InvalidMessage,
)
from core.events.destinations import DestinationPolicy, webhook_url_problem
from core.models import JobRequest, OutputLocation, S3ObjectRef

MAX_KEY_BYTES = 1024  # S3's own limit is on the UTF-8 encoding, not on characters


def key_problem(key: str) -> str | None:
    """Why an object key is refused, or None. Keys never name a local file (job directories
    use our own names), so these rules keep hostile text away from every tool downstream
    that may read a key as a path or an option: consoles, scripts, logs."""
    if not key:
        return "is empty"
    if len(key.encode()) > MAX_KEY_BYTES:
        return f"exceeds {MAX_KEY_BYTES} bytes"
    if any(unicodedata.category(c) == "Cc" for c in key):
        return "contains a control character"
    if key.startswith("-"):
        return "starts with '-'"
    if any(part in (".", "..") for part in key.split("/")):
        return "has a '.' or '..' segment"
    return None


def prefix_problem(prefix: str) -> str | None:
    """A key prefix: the key rules, without the need for a name; no empty segment inside."""
    body = prefix.strip("/")
    if not body:
        return None
    if "//" in body:
        return "has an empty segment"
    return key_problem(body)


def within(prefix: str, root: str) -> bool:
    """Is ``prefix`` the root or below it, segment by segment (``outputs-x`` is not under
    ``outputs``)?"""
    inner, outer = prefix.strip("/").split("/"), root.strip("/").split("/")
    return not root.strip("/") or inner[: len(outer)] == outer


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    input_buckets: frozenset[str]
    output_buckets: frozenset[str]
    output_root: str  # every output prefix lies at or under it ("": anywhere in the bucket)
    webhook_loopback: bool = False  # development only: http:// and loopback webhooks

    def admit_input(self, ref: S3ObjectRef) -> None:
        if ref.bucket not in self.input_buckets:
            raise ForbiddenBucket(f"input bucket {ref.bucket!r} is not on the allowlist")
        if (problem := key_problem(ref.key)) is not None:
            raise InvalidKey(f"input key {problem}")

    def admit_output(self, out: OutputLocation) -> None:
        if out.bucket not in self.output_buckets:
            raise ForbiddenBucket(f"output bucket {out.bucket!r} is not on the allowlist")
        if (problem := prefix_problem(out.prefix)) is not None:
            raise InvalidKey(f"output prefix {problem}")
        if not within(out.prefix, self.output_root):
            raise ForbiddenPrefix(
                f"the output prefix must lie under {self.output_root.strip('/')!r}"
            )

    def admit(self, request: JobRequest) -> None:
        """Raise the permanent refusal of ``request``, if any (its output is filled in)."""
        self.admit_input(request.input)
        for where, ref in request.step_objects():  # overlay images, clips to append
            if ref.bucket not in self.input_buckets:
                raise ForbiddenBucket(f"{where}: bucket {ref.bucket!r} is not on the allowlist")
            if (problem := key_problem(ref.key)) is not None:
                raise InvalidKey(f"{where}: key {problem}")
        if request.output is not None:
            self.admit_output(request.output)
        for i, place in enumerate(request.destinations):  # each admitted as the output is
            self.admit_output(place)
            if request.output is not None and place.same_place(request.output):
                raise InvalidMessage(
                    f"destinations[{i}]: the output's own location", code="invalid_request"
                )
        for number, hook in enumerate(request.webhooks, 1):
            # A request's own webhook: never private addresses, whatever the deployment's
            # endpoints may reach.
            policy = DestinationPolicy(allow_loopback=self.webhook_loopback)
            problem = webhook_url_problem(hook.url, policy=policy)
            if problem is not None:
                # What a URL shows is judged here; a name is judged by the addresses it
                # resolves to, at delivery (infra/pinned_resolver.py).
                raise ForbiddenWebhook(f"webhook {number}: {problem}")
