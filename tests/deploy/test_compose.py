"""docker-compose.localstack.yml: the whole system on a laptop, read as data.

No Docker engine runs in CI, so the file is parsed and checked here: the three services, the
order `up` starts them in (health checks, the one-shot bootstrap), the worker's settings
against the real Settings model, and the images against the Dockerfile. Where a compose
client is installed (`docker compose`, or Debian's `docker-compose` 1.29), its `config`
validates the file against the Compose schema too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from handlers import cli
from infra.settings import Settings
from tests.deploy.test_dockerfile import parse

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.localstack.yml"
AWS_SERVICES = {"s3", "sqs", "sns", "dynamodb", "sts"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    assert set(found) == {"localstack", "bootstrap", "worker"}
    return found


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping, so anchors merge"
    return {str(k): str(v) for k, v in env.items()}


def test_localstack_runs_the_services_the_worker_uses_pinned(
    services: dict[str, dict[str, Any]],
) -> None:
    localstack = services["localstack"]
    image, _, tag = localstack["image"].partition(":")
    assert image == "localstack/localstack"
    assert re.fullmatch(r"\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?", tag), "pin a release"
    assert set(env_of(localstack)["SERVICES"].split(",")) == AWS_SERVICES
    assert "127.0.0.1:4566:4566" in localstack["ports"]  # the host's aws CLI, not the LAN
    test = localstack["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert "http://127.0.0.1:4566/_localstack/health" in test


def test_up_starts_localstack_then_bootstrap_then_the_worker(
    services: dict[str, dict[str, Any]],
) -> None:
    bootstrap, worker = services["bootstrap"], services["worker"]
    assert bootstrap["depends_on"] == {"localstack": {"condition": "service_healthy"}}
    assert worker["depends_on"] == {
        "localstack": {"condition": "service_healthy"},
        "bootstrap": {"condition": "service_completed_successfully"},
    }
    assert bootstrap["command"] == ["bootstrap"]
    assert worker["command"] == ["worker"]
    assert bootstrap.get("restart") == "no"  # a one-shot: restarting it would hold `up`
    assert bootstrap["healthcheck"] == {"disable": True}
    for argv in (bootstrap["command"], worker["command"]):  # to the image's `ffapi`
        assert cli.main([*argv, "--help"]) == 0


@pytest.mark.parametrize("name", ["bootstrap", "worker"])
def test_ffapi_containers_build_the_cpu_image_and_reach_localstack(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    assert service["build"] == {"context": ".", "target": "cpu"}
    dockerfile = parse((ROOT / "Dockerfile").read_text())
    assert "cpu" in [s.name for s in dockerfile.stages]
    env = env_of(service)
    assert env["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    assert env["AWS_DEFAULT_REGION"] == env["FFAPI_REGION"]
    assert env["AWS_ACCESS_KEY_ID"]
    assert env["AWS_SECRET_ACCESS_KEY"]


@pytest.mark.parametrize("name", ["bootstrap", "worker"])
def test_the_settings_given_exist_and_validate(
    services: dict[str, dict[str, Any]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_of(services[name])
    fields = {f"FFAPI_{f.upper()}" for f in Settings.model_fields}
    given = {k: v for k, v in env.items() if k.startswith("FFAPI_")}
    assert set(given) <= fields, set(given) - fields
    for key in list(os.environ):
        if key.startswith("FFAPI_"):
            monkeypatch.delenv(key)
    for key, value in given.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.input_bucket == "ffapi-input"  # the bucket the docs upload to


def test_the_worker_is_checked_on_healthz_and_drains_before_docker_kills_it(
    services: dict[str, dict[str, Any]],
) -> None:
    worker = services["worker"]
    env = env_of(worker)
    port = env["FFAPI_HTTP_PORT"]
    check = worker["healthcheck"]
    assert check["test"][0] == "CMD"
    assert f"http://127.0.0.1:{port}/healthz" in check["test"][-1]
    assert check["start_period"]
    assert check["retries"] >= 1
    assert f"127.0.0.1:{port}:{port}" in worker["ports"]
    drain = float(env.get("FFAPI_DRAIN_SECONDS", Settings.model_fields["drain_seconds"].default))
    grace = worker["stop_grace_period"]
    assert re.fullmatch(r"\d+s", grace)
    assert int(grace[:-1]) > drain, "docker would SIGKILL running jobs mid-drain"
    assert worker.get("stop_signal", "SIGTERM") == "SIGTERM"


def compose_client() -> list[str] | None:
    """`docker compose` (v2), else `docker-compose` (Debian's 1.29 also reads this file)."""
    for argv in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(argv[0]):
            found = subprocess.run([*argv, "version"], capture_output=True, check=False)
            if found.returncode == 0:
                return argv
    return None


def compose_config(client: list[str], path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*client, "-f", str(path), "config"], capture_output=True, text=True, check=False
    )


def test_a_compose_client_accepts_it_and_refuses_a_broken_copy(tmp_path: Path) -> None:
    client = compose_client()
    if client is None:
        pytest.skip("no `docker compose` or `docker-compose` here (the file is parsed above)")
    result = compose_config(client, COMPOSE)
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    assert set(rendered["services"]) == {"localstack", "bootstrap", "worker"}
    # The client validates, not only parses: an unknown start condition is refused.
    broken = tmp_path / "docker-compose.localstack.yml"
    broken.write_text(COMPOSE.read_text().replace("service_completed_successfully", "done"))
    refused = compose_config(client, broken)
    assert refused.returncode != 0
    assert "condition" in refused.stderr
