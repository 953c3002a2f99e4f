"""The configuration document (``ffapi-config.toml``): presets and watch rules, judged whole.

Its presets are read over the deployment's catalog (the shipped presets, ``FFAPI_PRESETS_FILE``
and ``FFAPI_PRESET``: :class:`ConfigBase`), in the presets file's TOML shape; its ``[[watch]]``
rules replace the settings' single rule (which stays in force when the document names none).
:func:`parse_config` returns one :class:`WorkerConfig` or raises :class:`ConfigError` naming
the line (TOML) or the field (``watch[2].preset: ...``); it never returns a configuration in
part. Every rule's preset must exist, every output prefix must lie under the output root, and
no rule may watch where another's outputs land (each output would start a job without end).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from core.jobs.admission import AdmissionPolicy, prefix_problem, within
from core.jobs.watch import IntakeConfig, WatchRule, watches_output
from core.models import BucketName, OutputLocation
from core.presets import PresetCatalog, PresetFileError, PresetName, build_catalog

MAX_RULES = 64
Suffix = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[^/\x00-\x1f]+$")]
Prefix = Annotated[str, StringConstraints(max_length=512)]


class ConfigError(PresetFileError):
    """A configuration document that cannot be put in force (at start: the worker stops)."""


@dataclass(frozen=True, slots=True)
class ConfigBase:
    """What the settings give: the catalog the document's presets are read over, the intake
    in force when it names no rules, and the defaults of a rule's buckets."""

    catalog: PresetCatalog
    intake: IntakeConfig
    input_bucket: str
    submit_prefix: str = ""  # where `ffapi submit` uploads: no rule may watch it ("": none)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """The presets and watch rules in force; ``version``: the document's ETag (or the local
    file's stamp), "" for the settings' own."""

    catalog: PresetCatalog
    intake: IntakeConfig
    version: str = ""


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WatchSpec(_Doc):
    """One ``[[watch]]`` table. Unset buckets and output prefix: the settings'."""

    bucket: BucketName | None = None
    prefix: Prefix
    suffixes: list[Suffix] = Field(default_factory=list, max_length=32)
    preset: PresetName | None = None  # None: the catalog's default
    output_bucket: BucketName | None = None
    output_prefix: Prefix | None = None
    # Days this rule's packages / uploads are kept (ffapi prune; lifecycle rules on AWS).
    output_retention_days: Annotated[int, Field(ge=1, le=36500)] | None = None
    input_retention_days: Annotated[int, Field(ge=1, le=36500)] | None = None


class ConfigDoc(_Doc):
    default: PresetName | None = None
    presets: dict[str, dict[str, object]] = Field(default_factory=dict)  # build_catalog judges
    watch: list[WatchSpec] = Field(default_factory=list, max_length=MAX_RULES)


def parse_config(text: str, base: ConfigBase, version: str = "") -> WorkerConfig:
    """The document as one configuration, validated whole; ConfigError names what is wrong."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its text says "(at line 3, column 7)"
        raise ConfigError(f"configuration is not TOML: {exc}") from exc
    try:
        doc = ConfigDoc.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {describe(exc)}") from exc
    try:
        catalog = build_catalog(doc.default, doc.presets, base.catalog)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {describe(exc)}") from exc
    intake = _intake(doc.watch, base) if doc.watch else base.intake
    _check_rules(intake, catalog)
    if doc.watch:
        _check_submit_prefix(intake.rules, base)
    return WorkerConfig(catalog, intake, version)


def describe(exc: ValidationError) -> str:
    """Each problem as ``where: what``, without the values (they can be long, or secret)."""
    problems = []
    for error in exc.errors():
        where = ""
        for part in error["loc"]:
            where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
        problems.append(f"{where or 'document'}: {error['msg']}")
    return "; ".join(problems)


def _intake(specs: list[WatchSpec], base: ConfigBase) -> IntakeConfig:
    rules = tuple(_rule(n, spec, base) for n, spec in enumerate(specs))
    policy = base.intake.admission
    policy = AdmissionPolicy(
        input_buckets=policy.input_buckets | {r.bucket for r in rules},
        output_buckets=policy.output_buckets | {r.output.bucket for r in rules},
        output_root=policy.output_root,
        webhook_loopback=policy.webhook_loopback,
    )
    return replace(base.intake, rules=rules, policy=policy)


def _rule(number: int, spec: WatchSpec, base: ConfigBase) -> WatchRule:
    where = f"watch[{number}]"
    default = base.intake.default_output
    output_prefix = default.prefix if spec.output_prefix is None else spec.output_prefix
    for name, prefix in (("prefix", spec.prefix), ("output_prefix", output_prefix)):
        if (problem := prefix_problem(prefix)) is not None:
            raise ConfigError(f"invalid configuration: {where}.{name} {problem}")
    root = base.intake.admission.output_root
    if not within(output_prefix, root):
        raise ConfigError(
            f"invalid configuration: {where}.output_prefix must lie under the output root "
            f"{root.strip('/')!r} (FFAPI_OUTPUT_PREFIX)"
        )
    output = OutputLocation(
        bucket=spec.output_bucket or default.bucket, prefix=output_prefix.strip("/")
    )
    return WatchRule(
        bucket=spec.bucket or base.input_bucket,
        prefix=spec.prefix,
        preset=spec.preset,
        output=output,
        suffixes=tuple(spec.suffixes),
        output_retention_days=spec.output_retention_days,
        input_retention_days=spec.input_retention_days,
    )


def _check_rules(intake: IntakeConfig, catalog: PresetCatalog) -> None:
    rules = intake.rules
    for number, rule in enumerate(rules):
        if rule.preset is not None and catalog.get(rule.preset) is None:
            raise ConfigError(
                f"invalid configuration: watch[{number}].preset {rule.preset!r} is not a preset"
            )
    outputs = [(f"watch[{n}]", r.output) for n, r in enumerate(rules)]
    for where, location in [*outputs, ("the default output", intake.default_output)]:
        for number, rule in enumerate(rules):
            if watches_output(rule, location):
                raise ConfigError(
                    f"invalid configuration: {where} writes to s3://{location.bucket}/"
                    f"{location.prefix}, which watch[{number}] watches: each output would "
                    "start a new job"
                )


def _check_submit_prefix(rules: tuple[WatchRule, ...], base: ConfigBase) -> None:
    """A submitted file is sent as a job of its own: watched too, it would be two jobs."""
    submitted = base.submit_prefix.strip("/")
    if not submitted:
        return
    submitted += "/"
    for number, rule in enumerate(rules):
        if rule.bucket == base.input_bucket and (
            submitted.startswith(rule.prefix) or rule.prefix.startswith(submitted)
        ):
            raise ConfigError(
                f"invalid configuration: watch[{number}] watches {submitted!r}, where "
                "`ffapi submit` uploads (FFAPI_SUBMIT_PREFIX): each would start a second job"
            )
