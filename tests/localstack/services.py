"""What the LocalStack tests talk to: LocalStack's endpoint (S3, SQS, SNS, STS) and moto's
server for DynamoDB; the clients the tests make come from ``localstack_client``."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import localstack_client.session

from tests.harness.fleet import Fleet
from tests.integration.conftest import Stack

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
SERVICES = ("s3", "sqs", "sns", "sts")


@dataclass(frozen=True)
class Endpoints:
    url: str  # LocalStack
    dynamodb_url: str  # moto's server

    def environment(self) -> dict[str, str]:
        """The standard variables that point a process's AWS clients here."""
        return {
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_url,
        }


def answers(url: str) -> bool:
    """Something serves HTTP there (any status)."""
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def healthy(url: str) -> bool:
    """LocalStack's own word: each of our services available or running."""
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=2) as answer:
            state = json.load(answer)["services"]
    except (OSError, ValueError, KeyError):
        return False
    return all(state.get(s) in ("available", "running") for s in SERVICES)


def localstack_session(endpoints: Endpoints) -> localstack_client.session.Session:
    """A localstack_client session on this LocalStack. It takes ``AWS_ENDPOINT_URL`` before
    its ``localstack_host``, and another suite's emulator may have set it in this process."""
    host = endpoints.url.removeprefix("http://")
    with mock.patch.dict(os.environ):
        os.environ.pop("AWS_ENDPOINT_URL", None)
        return localstack_client.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=None,
            region_name=REGION,
            localstack_host=host,
        )


@dataclass
class LocalStackStack(Stack):
    """A stack whose clients are localstack_client's (DynamoDB: boto3 on moto's server)."""

    endpoints: Endpoints
    session: localstack_client.session.Session

    def client(self, service: str) -> Any:
        if service == "dynamodb":
            return boto3.client(
                service,
                region_name=REGION,
                endpoint_url=self.endpoints.dynamodb_url,
                aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )
        return self.session.client(service)


class LocalStackFleet(Fleet):
    """Worker processes with LocalStack and moto's DynamoDB in their environment."""

    def __init__(self, stack: LocalStackStack, root: Path) -> None:
        super().__init__(stack.settings, root, stack.endpoints.url)
        self._endpoints = stack.endpoints

    def _env(self, work: Path, overrides: dict[str, object]) -> dict[str, str]:
        env = {k: v for k, v in super()._env(work, overrides).items() if not k.startswith("AWS_")}
        return {**env, **self._endpoints.environment()}
