"""structlog configuration: JSON lines (or console) on stderr, context from contextvars.

Every line the process writes goes through one stdlib handler and structlog's
``ProcessorFormatter``: the worker's own events and the records of the libraries under it
(botocore, aiohttp, moto) alike, so a botocore warning in the middle of a job is a JSON object
with its ``logger`` name and the job's context, not a plain line in the JSON stream.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

# Libraries that log routine traffic at INFO: kept to their warnings.
QUIET = ("botocore", "aiobotocore", "boto3", "s3transfer", "urllib3", "werkzeug", "moto")


class _StderrHandler(logging.StreamHandler[TextIO]):
    """sys.stderr at each record, not at configuration: it may be replaced later (a test's
    capture, a daemon's redirection)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass  # always the current sys.stderr


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    threshold = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,  # job_id, message_id, correlation_id
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _tracebacks(fmt),
                _renderer(fmt),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(threshold)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(threshold, logging.WARNING))


def _tracebacks(fmt: str) -> structlog.typing.Processor:
    """Tracebacks never show local variables: they hold message bodies (hostile text, a
    caller's webhook URL with its token) and whatever else the frame had in hand."""
    if fmt != "json":
        return structlog.processors.format_exc_info  # plain text, no locals
    return structlog.processors.ExceptionRenderer(
        structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    )


def _renderer(fmt: str) -> structlog.typing.Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)
