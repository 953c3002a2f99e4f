"""Runtime settings from ``FFAPI_*`` environment variables.

AWS endpoints are deliberately absent: boto3 reads the standard ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` variables, so one build talks to AWS, LocalStack or moto.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from core.events.destinations import DestinationPolicy, webhook_url_problem
from core.jobs.admission import AdmissionPolicy
from core.jobs.watch import IntakeConfig, WatchRule
from core.presets import PresetCatalog, PresetFileError
from infra.setting_groups import (
    ENVIRONMENT,
    EncodeSettings,
    EventSettings,
    LimitSettings,
    QueueSettings,
    StorageSettings,
)


class Settings(StorageSettings, QueueSettings, EncodeSettings, LimitSettings, EventSettings):
    """Every setting (``infra.setting_groups`` has them by concern)."""

    model_config = ENVIRONMENT

    http_port: int = Field(
        default=0, ge=0, le=65535,
        description="serve /healthz, /readyz and /metrics here (0: off)",
    )  # fmt: skip
    ready_min_free_mb: int = Field(
        default=1024, ge=0, description="/readyz fails below this much free disk for job dirs"
    )
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")

    @model_validator(mode="after")
    def _outputs_are_not_watched(self) -> Settings:
        if self.intake.watches(self.output_location):
            raise ValueError(
                f"outputs under s3://{self.output_bucket}/{self.output_prefix} would land in the "
                f"watched prefix s3://{self.input_bucket}/{self.watch_prefix} and start new jobs"
            )
        return self

    @model_validator(mode="after")
    def _endpoints_are_allowed(self) -> Settings:
        # Refused where configured, as a bad secret is, rather than at every delivery.
        policy = DestinationPolicy(
            allow_loopback=self.webhook_allow_loopback,
            allow_private=self.webhook_endpoints_allow_private,
        )
        for endpoint in self.webhook_endpoints:
            if problem := webhook_url_problem(endpoint.url, policy=policy):
                raise ValueError(f"FFAPI_WEBHOOK_ENDPOINTS: {problem}")
        return self

    @property
    def intake(self) -> IntakeConfig:
        rule = WatchRule(
            bucket=self.input_bucket,
            prefix=self.watch_prefix,
            preset=self.preset,
            output=self.output_location,
            output_retention_days=self.output_retention_days or None,
            input_retention_days=self.input_retention_days or None,
        )
        policy = AdmissionPolicy(
            input_buckets=frozenset([self.input_bucket, *self.allowed_input_buckets]),
            output_buckets=frozenset([self.output_bucket, *self.allowed_output_buckets]),
            output_root=self.output_prefix,
            webhook_loopback=self.webhook_allow_loopback,
        )
        return IntakeConfig(rules=(rule,), default_output=self.output_location, policy=policy)

    def presets(self) -> PresetCatalog:
        """The catalog in force; raises PresetFileError (and so stops the worker) when the
        file is unusable or the watched uploads' preset is not in it."""
        from infra.presets import load_presets  # settings stay importable without a file

        catalog = load_presets(self.presets_file)
        if not self.preset:
            return catalog
        if catalog.get(self.preset) is None:
            raise PresetFileError(f"FFAPI_PRESET names an unknown preset {self.preset!r}")
        # One default for the deployment: watched uploads and requests that name no preset.
        return catalog.model_copy(update={"default": self.preset})


def settings_environment(settings: Settings, *, only_set: bool = False) -> dict[str, str]:
    """The ``FFAPI_*`` variables that give another process these settings: lists and tables
    as JSON (as pydantic-settings reads them), secrets revealed (the child needs them)."""
    values = settings.model_dump(exclude_none=True, exclude_unset=only_set)
    return {f"FFAPI_{name.upper()}": environment_text(value) for name, value in values.items()}


def environment_text(value: object) -> str:
    """One setting's value as its ``FFAPI_*`` variable holds it."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=_revealed)
    return str(value)


def _revealed(value: object) -> object:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no environment form")
