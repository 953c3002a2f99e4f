"""How ``ffapi`` reports what went wrong: one line, a hint to fix it, an exit code.

A person at a terminal needs the cause and the next step, not a traceback; ``--debug`` adds
the traceback for the rest of us. Exit codes: 0 ok, 1 a job failed or is unknown (or AWS
failed us), 2 a usage or input error, 3 ffmpeg/ffprobe missing, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import traceback
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import typer
from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError
from botocore.exceptions import ConnectionError as AwsConnectionError
from pydantic import ValidationError
from pydantic_settings import SettingsError

from core.errors import FfapiError
from core.jobs.config import ConfigError
from core.presets import PresetFileError
from infra.aws import error_code
from infra.logs import configure_logging
from infra.settings import Settings
from infra.tools import MissingBinary

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MISSING_BINARY, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

Work = Callable[[Settings], Coroutine[Any, Any, int]]

# What the SDK says when a resource `ffapi bootstrap` makes is absent.
_MISSING_RESOURCE = {
    "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "ResourceNotFoundException",
    "NoSuchBucket", "NotFound",
}  # fmt: skip
_NO_ENDPOINT_HINT = "set AWS_ENDPOINT_URL or start `ffapi local`"


class CommandError(Exception):
    """A command's own refusal: the message, what to do about it, and the exit code."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    hint: str | None
    exit_code: int


def run_command(work: Work, *, debug: bool, quiet: bool, uses_aws: bool = False) -> int:
    """Load the settings, run ``work`` and turn any failure into a Problem on stderr.

    ``quiet``: a one-shot command shows its own output; the worker's INFO logs would bury it.
    ``uses_aws``: a one-shot command that needs the endpoint checks it can connect first.
    """
    try:
        settings = Settings()
        level = "WARNING" if quiet and not debug else settings.log_level
        configure_logging(level, settings.log_format)
        if uses_aws:
            check_endpoint(os.environ.get("AWS_ENDPOINT_URL"))
        return asyncio.run(work(settings))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # every failure ends as one line (and a traceback on --debug)
        problem = explain(exc)
        report(problem, exc if debug else None)
        return problem.exit_code


def check_endpoint(url: str | None) -> None:
    """Fail at once when a configured endpoint refuses connections (an emulator that is not
    running), rather than after botocore's five attempts with backoff, some 15 s later."""
    if not url:
        return  # AWS itself: an outage is what the SDK's retries are for
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=3):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CommandError(
            f"cannot reach {url} ({reason})", _NO_ENDPOINT_HINT, EXIT_FAILED
        ) from exc


def report(problem: Problem, exc: BaseException | None = None) -> None:
    if exc is not None:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"ffapi: {problem.message}", file=sys.stderr)
    if problem.hint:
        print(f"  hint: {problem.hint}", file=sys.stderr)


def explain(exc: BaseException) -> Problem:
    if isinstance(exc, CommandError):
        return Problem(exc.message, exc.hint, exc.exit_code)
    if isinstance(exc, MissingBinary):
        return Problem(str(exc), None, EXIT_MISSING_BINARY)  # the text names apt and brew
    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        return _bad_settings(exc)
    if isinstance(exc, SettingsError):
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"FFAPI_{found[1].upper()}" if found else "an FFAPI_* variable"
        return Problem(f"{name} cannot be read: {exc}", f"fix or unset {name}", EXIT_USAGE)
    if isinstance(exc, ConfigError):  # before PresetFileError: it is one
        return Problem(str(exc), "fix the configuration document (FFAPI_CONFIG)", EXIT_USAGE)
    if isinstance(exc, PresetFileError):
        return Problem(str(exc), "check FFAPI_PRESETS_FILE and FFAPI_PRESET", EXIT_USAGE)
    aws = _aws_problem(exc)
    if aws is not None:
        return aws
    if isinstance(exc, FfapiError):
        code = EXIT_FAILED if exc.retryable else EXIT_USAGE  # permanent: the input is wrong
        return Problem(f"{exc.code}: {exc.message}", None, code)
    if isinstance(exc, OSError):
        return Problem(str(exc), None, EXIT_USAGE)
    return Problem(
        f"unexpected {type(exc).__name__}: {exc}",
        "run again with --debug for the traceback",
        EXIT_FAILED,
    )


def _bad_settings(exc: ValidationError) -> Problem:
    first = exc.errors()[0]
    if first["loc"]:
        name = f"FFAPI_{str(first['loc'][0]).upper()}"
        return Problem(f"{name}: {first['msg']}", f"fix or unset {name}", EXIT_USAGE)
    # A rule across settings (outputs inside the watched prefix): the message names both.
    return Problem(f"settings: {first['msg']}", "fix the FFAPI_* variables it names", EXIT_USAGE)


def _aws_problem(exc: BaseException) -> Problem | None:
    """An SDK failure, however deep it is wrapped (StorageUnavailable keeps it as the cause)."""
    for cause in _chain(exc):
        if isinstance(cause, AwsConnectionError):
            url = cause.kwargs.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL", "AWS")
            return Problem(
                f"cannot reach {url} ({type(cause).__name__})", _NO_ENDPOINT_HINT, EXIT_FAILED
            )
        if isinstance(cause, NoCredentialsError):
            return Problem(
                "no AWS credentials",
                "set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
                f"AWS_SECRET_ACCESS_KEY, or {_NO_ENDPOINT_HINT}",
                EXIT_FAILED,
            )
        if isinstance(cause, NoRegionError):
            return Problem("no AWS region", "set FFAPI_REGION", EXIT_USAGE)
        if isinstance(cause, ClientError) and error_code(cause) in _MISSING_RESOURCE:
            return Problem(
                str(exc),
                "create the resources with `ffapi bootstrap` (or check the FFAPI_* "
                "names of the bucket, queue, topic and table)",
                EXIT_FAILED,
            )
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


@dataclass(frozen=True, slots=True)
class Flags:
    debug: bool = False


def run_in(
    ctx: typer.Context, work: Work, *, quiet: bool = True, uses_aws: bool = False
) -> NoReturn:
    """Run ``work`` as the command ``ctx`` names, and exit with its code."""
    flags = ctx.obj if isinstance(ctx.obj, Flags) else Flags()
    raise typer.Exit(run_command(work, debug=flags.debug, quiet=quiet, uses_aws=uses_aws))
