"""structlog configuration: JSON lines (or console) on stderr, context from contextvars."""

from __future__ import annotations

import logging
import sys

import structlog


def _stderr_logger(*_args: object) -> structlog.PrintLogger:
    return structlog.PrintLogger(sys.stderr)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    # Tracebacks never show local variables: they hold message bodies (hostile text, a
    # caller's webhook URL with its token) and whatever else the frame had in hand.
    tracebacks: structlog.typing.Processor = (
        structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        if fmt == "json"
        else structlog.processors.format_exc_info  # plain text, no locals
    )
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,  # job_id, message_id, correlation_id
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            tracebacks,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        # Resolve sys.stderr at each use, not at configuration: it may be replaced later.
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    # botocore and moto log at INFO through the stdlib; keep them out of the job log.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for noisy in ("botocore", "aiobotocore", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
