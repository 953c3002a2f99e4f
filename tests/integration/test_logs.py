"""The worker's log configuration: what a traceback may carry."""

from __future__ import annotations

import json
import logging

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


def test_every_line_is_json_with_its_logger_s_name(capsys: pytest.CaptureFixture[str]) -> None:
    """The libraries' own records join the stream: one JSON object a line, named, with the
    job's context; their routine INFO stays out."""
    configure_logging("INFO", "json")
    structlog.contextvars.bind_contextvars(job_id="j-logs")
    try:
        structlog.get_logger("ffapi.pipeline").info("job.started", preset="web-hls")
        logging.getLogger("botocore.retryhandler").warning("retry needed (%s)", 2)
        logging.getLogger("botocore.credentials").info("found credentials")  # routine: out
        logging.getLogger("aiohttp.client").error("connection reset")
        structlog.get_logger("ffapi.pipeline").debug("below the level")
    finally:
        structlog.contextvars.unbind_contextvars("job_id")
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert [(x["logger"], x["level"], x["event"]) for x in lines] == [
        ("ffapi.pipeline", "info", "job.started"),
        ("botocore.retryhandler", "warning", "retry needed (2)"),
        ("aiohttp.client", "error", "connection reset"),
    ]
    assert all(x["job_id"] == "j-logs" for x in lines)
    assert lines[0]["preset"] == "web-hls"
