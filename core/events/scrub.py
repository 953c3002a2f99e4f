"""Tool text made fit to leave the worker: no memory addresses, no filesystem paths.

ffmpeg and ffprobe name their contexts by address (``[png @ 0x561fc939d7c0]``) and their
files by path (``file:/tmp/ffapi-<job>-n…-p…-x/input/source: Invalid data``): neither means
anything to a subscriber, and both describe the worker's machine. Events and ``job.json``
carry the scrubbed text; the worker's log and the job record keep it raw, for operators.

A path is cut to its last component (``source``, ``seg_00001.m4s``), which still says which
file (a directory's, ending in ``/``, to ``<path>``); URLs (``s3://``, ``https://``) and
relative names are left alone: they came from the request, not from the machine.
"""

from __future__ import annotations

import re
from typing import Any

# `[png @ 0x55d…]`, `[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d…]`: the context's name stays
_CONTEXT = re.compile(r"\[([^\[\]@]+?) @ 0x[0-9a-fA-F]+\]")
# Any other pointer. Nine hex digits or more: a four-character code (`0x31637661`) is no
# address, and user-space addresses of a 64-bit process have twelve.
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{9,}\b")
# An absolute path, or a file: URL of one, where a word begins: not the `//` of a URL, nor
# the `/A` of `N/A` or `1/0`. It ends where ffmpeg's punctuation does (`'path':`,
# `path: No such file`).
_PATH = re.compile(r"(?<![\w.~/\\-])(?:file:(?://)?)?/(?!/)[^\s'\"`<>|,;:()\[\]{}]+")


def scrub(text: str) -> str:
    """``text`` without addresses and with each absolute path cut to its last component."""
    text = _CONTEXT.sub(r"[\1]", text)
    text = _ADDRESS.sub("<address>", text)
    return _PATH.sub(_last_component, text)


def _last_component(match: re.Match[str]) -> str:
    """A directory's name says nothing a subscriber needs (the job directory's is ours)."""
    return match.group().rsplit("/", 1)[-1] or "<path>"


def scrub_values(value: Any) -> Any:
    """Every string in a JSON-like value scrubbed (keys are ours: left as they are)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: scrub_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_values(item) for item in value]
    return value
