"""AWS clients: one aioboto3 session, botocore's own retry mode, endpoints from the environment.

Nothing here takes an endpoint URL: ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` point
the same code at AWS, LocalStack or moto. An SDK failure that outlasts botocore's standard
retries becomes :class:`core.errors.StorageUnavailable` (transient).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from core.errors import StorageUnavailable
from infra.settings import Settings

# botocore retries throttling, 5xx and connection errors with backoff; we never add retries
# on top of it. `max_attempts` counts retries: six attempts, with sleeps of up to 1, 2, 4, 8
# and 16 s between them (jittered), so a call gives up 0-31 s into an outage.
RETRY_CONFIG = {"mode": "standard", "max_attempts": 5}


def client_config(read_timeout: float = 60) -> Config:
    return Config(retries=RETRY_CONFIG, connect_timeout=5, read_timeout=read_timeout)


@dataclass(frozen=True, slots=True)
class AwsClients:
    s3: Any
    sqs: Any
    sns: Any
    dynamodb: Any


@asynccontextmanager
async def open_clients(settings: Settings) -> AsyncIterator[AwsClients]:
    session = aioboto3.Session(region_name=settings.region)
    async with AsyncExitStack() as stack:
        # A long poll holds the connection for wait_time_seconds; give it room.
        sqs_config = client_config(read_timeout=settings.wait_time_seconds + 10)
        s3 = await stack.enter_async_context(session.client("s3", config=client_config()))
        sqs = await stack.enter_async_context(session.client("sqs", config=sqs_config))
        sns = await stack.enter_async_context(session.client("sns", config=client_config()))
        ddb = await stack.enter_async_context(session.client("dynamodb", config=client_config()))
        yield AwsClients(s3=s3, sqs=sqs, sns=sns, dynamodb=ddb)


@contextmanager
def aws_errors(operation: str) -> Iterator[None]:
    """Translate SDK failures (after botocore's own retries) into StorageUnavailable."""
    try:
        yield
    except Exception as exc:
        if (sdk := sdk_error(exc)) is not None:
            raise StorageUnavailable(f"{operation}: {error_summary(sdk)}") from exc
        raise


def sdk_error(exc: BaseException) -> ClientError | BotoCoreError | None:
    """The SDK's error behind ``exc``: itself, or the one aioboto3's download_file wraps in
    a bare Exception when a part fails."""
    if isinstance(exc, ClientError | BotoCoreError):
        return exc
    cause = exc.__cause__
    if type(exc) is Exception and isinstance(cause, ClientError | BotoCoreError):
        return cause
    return None


def error_code(exc: BaseException) -> str:
    sdk = sdk_error(exc)
    if isinstance(sdk, ClientError):
        return str(sdk.response.get("Error", {}).get("Code", ""))
    return ""


def error_summary(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', '?')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
