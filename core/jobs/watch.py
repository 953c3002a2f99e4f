"""Watch rules: which uploaded objects become jobs, with which preset, written where.

A :class:`WatchRule` maps a bucket, prefix and suffixes to a preset and an output location;
:class:`IntakeConfig` holds the rules and the admission policy (built by
``Settings.intake``; derived from the rules when none is given).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.jobs.admission import AdmissionPolicy
from core.jobs.results import JOB_ID_PREFIX
from core.models import OutputLocation


@dataclass(frozen=True, slots=True)
class WatchRule:
    bucket: str
    prefix: str
    preset: str | None  # None: the catalog's default
    output: OutputLocation
    suffixes: tuple[str, ...] = ()  # empty: any suffix; compared case-insensitively
    # Days its jobs' packages and its processed uploads are kept (None: for ever); S3
    # lifecycle rules or `ffapi prune` delete them (core/jobs/retention.py).
    output_retention_days: int | None = None
    input_retention_days: int | None = None

    def matches(self, bucket: str, key: str) -> bool:
        if bucket != self.bucket or not key.startswith(self.prefix):
            return False
        return not self.suffixes or key.lower().endswith(tuple(s.lower() for s in self.suffixes))


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    rules: tuple[WatchRule, ...]
    default_output: OutputLocation
    # None: only the buckets named here, and outputs under the default output's prefix.
    policy: AdmissionPolicy | None = None

    @property
    def admission(self) -> AdmissionPolicy:
        if self.policy is not None:
            return self.policy
        outputs = {self.default_output.bucket, *(r.output.bucket for r in self.rules)}
        return AdmissionPolicy(
            input_buckets=frozenset(r.bucket for r in self.rules),
            output_buckets=frozenset(outputs),
            output_root=self.default_output.prefix,
        )

    def rule_for(self, bucket: str, key: str) -> WatchRule | None:
        return next((r for r in self.rules if r.matches(bucket, key)), None)

    def watches(self, location: OutputLocation) -> bool:
        """Would files written to this location start new jobs (a loop without end)?"""
        return any(watches_output(rule, location) for rule in self.rules)


def watches_output(rule: WatchRule, location: OutputLocation) -> bool:
    prefix = location.prefix.strip("/")
    written = f"{prefix}/{JOB_ID_PREFIX}" if prefix else JOB_ID_PREFIX  # every output key's start
    return rule.bucket == location.bucket and (
        written.startswith(rule.prefix) or rule.prefix.startswith(written)
    )
