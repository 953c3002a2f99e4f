"""What the m3u8 stubs type as optional, read where every package the worker writes has it:
a missing one fails the test here, by name, rather than as a path of ``None``."""

from typing import Protocol

import m3u8


class _Referenced(Protocol):
    uri: str | None


def uri_of(entry: _Referenced) -> str:
    assert entry.uri is not None, f"{type(entry).__name__} without a URI"
    return entry.uri


def language_of(media: m3u8.Media) -> str:
    assert media.language is not None, f"{media.uri} without a LANGUAGE"
    return media.language


def seconds_of(segment: m3u8.Segment) -> float:
    assert segment.duration is not None, f"{segment.uri} without a duration"
    return segment.duration
