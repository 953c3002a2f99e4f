"""Settings handed to another process as FFAPI_* variables read back as the same settings."""

from __future__ import annotations

import pytest

from infra.settings import Settings, settings_environment

SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"  # base64 of a 24-byte key


def test_every_kind_of_setting_survives_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        input_bucket="media-in",
        allowed_input_buckets=["archive", "partner-drop"],
        allowed_codecs=["h264", "aac"],
        webhook_secrets=[SECRET],
        webhook_endpoints=[{"url": "https://hooks.example.com/a", "secrets": [SECRET]}],
        stall_seconds=7.5,
    )
    env = settings_environment(settings)
    assert env["FFAPI_ALLOWED_CODECS"] == '["h264", "aac"]'
    assert SECRET in env["FFAPI_WEBHOOK_SECRETS"]  # the child must be able to sign
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"FFAPI_{name.upper()}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings


def test_only_what_was_set_can_be_handed_over() -> None:
    env = settings_environment(Settings(worker_concurrency=3), only_set=True)
    assert env == {"FFAPI_WORKER_CONCURRENCY": "3"}
