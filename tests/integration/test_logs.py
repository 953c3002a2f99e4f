"""The worker's log configuration: what a traceback may carry."""

from __future__ import annotations

import json

import pytest
import structlog

from infra.logs import configure_logging


def _fail_holding(secret: str) -> None:
    body = {"webhooks": [{"url": f"https://hooks.example.com/?token={secret}"}]}
    raise ValueError(f"could not handle a body of {len(body)} fields")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_logged_traceback_shows_no_local_variables(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "tok-5f1c0ffee"
    configure_logging("INFO", fmt)
    try:
        _fail_holding(secret)
    except ValueError:
        structlog.get_logger("test").exception("message.unhandled")
    finally:
        configure_logging("INFO", "json")  # as the other integration tests expect
    err = capsys.readouterr().err
    assert "_fail_holding" in err  # the traceback is there
    assert "could not handle a body of 1 fields" in err
    assert secret not in err
    if fmt == "json":
        line = json.loads(err.strip().splitlines()[-1])
        assert line["event"] == "message.unhandled"
        assert all("locals" not in frame for frame in line["exception"][0]["frames"])
