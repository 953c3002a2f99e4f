"""The error tree of core.errors: the classes and codes its docstring draws, to_dict, the
families' retryability, unique codes (the event contract), and as_ffapi_error."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import core.errors as errors_module
from core import errors
from core.errors import (
    AcceleratorFailed,
    FfapiError,
    InternalError,
    InvalidMedia,
    InvalidMessage,
    PermanentError,
    TransientError,
    as_ffapi_error,
)


def _all_subclasses(cls: type[FfapiError]) -> list[type[FfapiError]]:
    found: list[type[FfapiError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


ERROR_CLASSES = [c for c in _all_subclasses(FfapiError) if c.__module__ == errors.__name__]
FAMILIES = {PermanentError, TransientError}
CONCRETE = [c for c in ERROR_CLASSES if c not in FAMILIES]


def test_the_tree_is_what_the_docstring_says() -> None:
    doc = errors_module.__doc__ or ""
    for cls in CONCRETE:  # every class and its code is drawn in the module's docstring
        assert cls.__name__ in doc
        assert f"[{cls.default_code}]" in doc or f" {cls.default_code}]" in doc
    names = {c.__name__ for c in CONCRETE}
    assert names == {
        "AttemptsExhausted",
        "InvalidMessage",
        "ForbiddenBucket",
        "InvalidKey",
        "ForbiddenPrefix",
        "ForbiddenWebhook",
        "InputNotFound",
        "InputForbidden",
        "InputChanged",
        "InputTooLarge",
        "InvalidMedia",
        "UnsupportedMedia",
        "UnsupportedFormat",
        "UnsupportedCodec",
        "FrameTooLarge",
        "FrameRateTooHigh",
        "TooManyStreams",
        "InputTooLong",
        "MemoryLimitExceeded",
        "EncoderUnavailable",
        "OutputTooLarge",
        "CpuTimeExceeded",
        "QcFailed",
        "InvalidTopic",
        "StorageUnavailable",
        "ResourceExhausted",
        "InsufficientDisk",
        "TranscodeTimeout",
        "TranscodeStalled",
        "TranscodeFailed",
        "AcceleratorFailed",
        "JobBusy",
        "WorkerLost",
        "LeaseLost",
        "InternalError",
        "DependencyFailed",
        "DeadlinePassed",
        "JobCancelled",
    }
    assert all(issubclass(c, PermanentError | TransientError) for c in CONCRETE)


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda c: c.__name__)
def test_to_dict_has_code_message_retryable(cls: type[FfapiError]) -> None:
    extra: dict[str, Any] = {"reason": "cuda_error"} if cls is AcceleratorFailed else {}
    err = cls("something went wrong", **extra)
    body = err.to_dict()
    assert body == {
        "code": cls.default_code,
        "message": "something went wrong",
        "retryable": cls.retryable,
        **({"details": extra} if extra else {}),
    }
    assert isinstance(body["retryable"], bool)
    assert str(err) == "something went wrong"
    json.dumps(body)
    with_tail = cls("x", stderr_tail="last line", **extra).to_dict()
    assert with_tail["stderr_tail"] == "last line"


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda c: c.__name__)
def test_retryable_follows_the_family(cls: type[FfapiError]) -> None:
    if issubclass(cls, PermanentError):
        assert cls.retryable is False
        assert cls("x").retryable is False
    else:
        assert issubclass(cls, TransientError)
        assert cls.retryable is True
        extra: dict[str, Any] = {"reason": "cuda_error"} if cls is AcceleratorFailed else {}
        assert cls("x", **extra).retryable is True


def test_invalid_message_code_is_refined() -> None:
    err = InvalidMessage("body is not JSON", code="malformed_json")
    assert err.code == "malformed_json"
    assert err.retryable is False
    assert err.to_dict()["code"] == "malformed_json"
    assert InvalidMessage("bad").code == "invalid_request"


def test_as_ffapi_error_wraps_unexpected_exceptions() -> None:
    wrapped = as_ffapi_error(ValueError("bad value"))
    assert isinstance(wrapped, InternalError)
    assert wrapped.code == "internal_error"
    assert wrapped.retryable is True
    assert "ValueError" in wrapped.message
    assert "bad value" in wrapped.message


def test_as_ffapi_error_passes_ffapi_errors_through() -> None:
    for err in (InvalidMedia("x"), InvalidMessage("y", code="malformed_json"), InternalError("z")):
        assert as_ffapi_error(err) is err


def test_default_codes_are_unique() -> None:
    # Families (PermanentError, TransientError) name no code of their own; every class that
    # declares one must declare a different one (codes are the event contract).
    declared = [c for c in ERROR_CLASSES if "default_code" in vars(c)]
    codes = [c.default_code for c in declared]
    assert len(codes) == len(set(codes)), sorted(codes)
    assert {c for c in ERROR_CLASSES if "default_code" not in vars(c)} == FAMILIES
    # And every concrete class declares its own (none silently inherits a sibling's).
    assert set(declared) == set(CONCRETE)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in codes)
