"""The embedded AWS emulator: moto's threaded server on a free loopback port.

Starting it points this process's AWS clients at it through the standard environment
variables (``AWS_ENDPOINT_URL`` and dummy credentials), exactly as a user would by hand.
moto's DynamoDB item writes are serialized here: a conditional write is atomic on DynamoDB,
claims rely on it, and moto's threaded server alone let two claims of one job win.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

EMULATOR_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class EmbeddedEmulator:
    def __init__(self, host: str = "127.0.0.1") -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "the embedded emulator needs moto's server: pip install 'ffapi-worker[embedded]'"
            ) from exc
        _serialize_dynamodb_writes()
        self._server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
        self.endpoint_url = ""

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    def stop(self) -> None:
        self._server.stop()

    def environment(self, region: str) -> dict[str, str]:
        return {
            **EMULATOR_ENV,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
        }


_WRITE_LOCK = threading.RLock()
_ITEM_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def _serialize_dynamodb_writes() -> None:
    """DynamoDB applies a conditional write atomically: of two claims racing on one job,
    one wins. moto's threaded server checks the condition and then writes without a lock,
    so both could win (seen here: S3's two events for one multipart upload, taken by two
    worker slots at once, started two encodes of one job). One lock around moto's item
    writes gives the embedded emulator the guarantee the job store is built on."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _ITEM_WRITES:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_ffapi_serialized", False):
            continue
        setattr(DynamoDBBackend, name, _locked(original))


def _locked(write: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(write)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _WRITE_LOCK:
            return write(*args, **kwargs)

    locked._ffapi_serialized = True  # type: ignore[attr-defined]
    return locked


@contextmanager
def embedded_emulator(region: str) -> Iterator[EmbeddedEmulator]:
    """Run the emulator and point this process's clients at it; restore the environment after."""
    emulator = EmbeddedEmulator()
    emulator.start()
    env = emulator.environment(region)
    # Service-specific endpoints would win over AWS_ENDPOINT_URL; hide them while embedded.
    shadowing = [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")]
    shadowing.append("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
    saved = {k: os.environ.get(k) for k in [*env, *shadowing]}
    for key in shadowing:
        os.environ.pop(key, None)
    os.environ.update(env)
    try:
        yield emulator
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        emulator.stop()
