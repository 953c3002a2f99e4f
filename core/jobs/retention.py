"""Retention: which objects under the watch rules' prefixes are old enough to go.

A watch rule may keep its jobs' outputs ``output_retention_days`` and its processed uploads
``input_retention_days`` (None: for ever). S3 lifecycle rules do this where they exist
(``template.yaml``); ``ffapi prune`` (``handlers/prune.py``) does it on any S3-compatible
store, from this decision, which is pure: a listing and a time in, what to delete out.

- **Outputs** go a job's package at a time: every key under ``{prefix}/{job id}/`` (or under
  a request's own prefix below it: ``{prefix}/web/{job id}/``), expired when its newest object
  is older than the cutoff (a package is never cut in half), with its ``job.json`` deleted
  first, so a reader never finds a commit marker over a half-deleted package. Keys under the
  prefix outside a job's folder are not the worker's: left alone.
- **Inputs**: each object under the watched prefix that the rule matches (its suffixes too),
  by its own age.

Nothing outside the rules' prefixes is ever named. Where two rules name one place, the
shorter retention wins (as S3 applies the shortest of overlapping lifecycle expirations).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from core.attempt.commit import MARKER
from core.jobs.results import JOB_ID_PREFIX
from core.jobs.watch import WatchRule
from core.ports import ObjectListing

Kind = Literal["outputs", "inputs"]
JOB_ID = re.compile(rf"{JOB_ID_PREFIX}[0-9a-f]{{24}}")  # as derive_job_id makes them


@dataclass(frozen=True, slots=True)
class RetentionTarget:
    """One prefix to prune: a rule's outputs or its watched uploads."""

    kind: Kind
    bucket: str
    prefix: str  # the listing's prefix
    days: int
    suffixes: tuple[str, ...] = ()  # inputs: the rule's suffixes (empty: any)

    def cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.days)


@dataclass(frozen=True, slots=True)
class Expired:
    """What goes together: a job's package, or one upload."""

    bucket: str
    name: str  # the package's prefix (ending in /), or the upload's key
    keys: tuple[str, ...]  # in the order they are deleted: a package's job.json first
    size: int
    newest: datetime


def retention_targets(rules: Sequence[WatchRule]) -> list[RetentionTarget]:
    """The prefixes the rules keep for a while, each once (the shortest retention)."""
    found: dict[tuple[Kind, str, str, tuple[str, ...]], RetentionTarget] = {}
    for target in (t for rule in rules for t in _rule_targets(rule)):
        where = (target.kind, target.bucket, target.prefix, target.suffixes)
        if where not in found or target.days < found[where].days:
            found[where] = target
    return list(found.values())


def _rule_targets(rule: WatchRule) -> list[RetentionTarget]:
    targets = []
    if rule.output_retention_days:
        body = rule.output.prefix.strip("/")
        prefix = f"{body}/" if body else ""
        targets.append(
            RetentionTarget("outputs", rule.output.bucket, prefix, rule.output_retention_days)
        )
    if rule.input_retention_days:
        suffixes = tuple(sorted({s.lower() for s in rule.suffixes}))
        targets.append(
            RetentionTarget("inputs", rule.bucket, rule.prefix, rule.input_retention_days, suffixes)
        )
    return targets


def expired(
    target: RetentionTarget, listing: Iterable[ObjectListing], now: datetime
) -> list[Expired]:
    """What under ``target`` is older than its retention, as of ``now``."""
    within = [o for o in listing if o.key.startswith(target.prefix)]
    if target.kind == "outputs":
        return _packages(target, within, target.cutoff(now))
    return _uploads(target, within, target.cutoff(now))


def _packages(
    target: RetentionTarget, listing: list[ObjectListing], cutoff: datetime
) -> list[Expired]:
    packages: dict[str, list[ObjectListing]] = {}
    for obj in listing:
        if (name := _package_of(obj.key, target.prefix)) is not None:
            packages.setdefault(name, []).append(obj)
    found = []
    for name, objects in packages.items():
        newest = max(o.last_modified for o in objects)
        if newest >= cutoff:
            continue
        marker = f"{name}{MARKER}"
        keys = sorted((o.key for o in objects), key=lambda k: (k != marker, k.encode()))
        found.append(
            Expired(target.bucket, name, tuple(keys), sum(o.size for o in objects), newest)
        )
    return found


def _package_of(key: str, prefix: str) -> str | None:
    """The job folder holding ``key`` (``{prefix}[request's sub-prefix/]{job id}/``), or None:
    the first segment below the prefix that is a job id, with something under it."""
    segments = key[len(prefix) :].split("/")
    for depth, segment in enumerate(segments[:-1]):
        if JOB_ID.fullmatch(segment):
            return prefix + "/".join(segments[: depth + 1]) + "/"
    return None


def _uploads(
    target: RetentionTarget, listing: list[ObjectListing], cutoff: datetime
) -> list[Expired]:
    return [
        Expired(target.bucket, o.key, (o.key,), o.size, o.last_modified)
        for o in listing
        if o.last_modified < cutoff and _suffixed(o.key, target.suffixes)
    ]


def _suffixed(key: str, suffixes: tuple[str, ...]) -> bool:
    return not suffixes or key.lower().endswith(suffixes)
