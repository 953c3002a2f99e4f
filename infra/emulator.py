"""The embedded AWS emulator: moto's threaded server on a free loopback port.

Starting it points this process's AWS clients at it through the standard environment
variables (``AWS_ENDPOINT_URL`` and dummy credentials), exactly as a user would by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

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
