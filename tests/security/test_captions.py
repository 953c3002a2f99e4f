"""Hostile captions (issue 17): a ``text`` step's words never become filter syntax.

Each caption is either refused by the model or drawn: the pass's graph holds none of it (only
numbers, fixed filter names and the caption file's own name), the words reach ffmpeg only
through ``captions/step-N.txt``, and the real ffmpeg runs the pass. With ``expansion=none``
a ``%{...}`` sequence is drawn as its characters: the same picture on every frame, where
``%{pts}`` expanded would change from frame to frame.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.steps.model import MAX_CAPTION_CHARS
from tests.integration.test_transforms import (
    STEPS,
    black_source,
    compile_steps,
    frame_rgb,
    run_chain,
)

pytestmark = pytest.mark.security

HOSTILE = {
    "quotes": "it's \"quoted\" 'twice'",
    "colons": "a:b=c:fontfile=/etc/passwd",
    "backslashes": "back\\slash \\' \\\\: \\n",
    "pts": "%{pts}",
    "eif": "%{eif:n:d} %{e:1+1} %{localtime}",
    "metadata": "%{metadata:title} %%{n}",
    "semicolon": "x; movie=/etc/passwd [m]; [m][in]overlay",
    "labels": "[x][vmain] [0:v] [amain]",
    "newlines": "first line\nsecond: line\r\nthird",
    "textfile": "',textfile=/etc/passwd,text='",
    "unicode": "Ünïcødé — 字幕 🎬",
    "nul": "before\x00after",
    "longest": ("%{pts}:'\\;[x]" * 200)[:MAX_CAPTION_CHARS],
}
LOSSLESS = ("ffv1",)
# What a compiled graph may hold when no step is timed: no quote, percent, brace, backslash,
# semicolon or space.
SAFE = re.compile(r"^[A-Za-z0-9\[\]:=,._/()+*-]+$")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return black_source(tmp_path_factory.mktemp("captions"), seconds=2.0)


def job_dir(source: Path, tmp_path: Path) -> Path:
    """The source, linked into this test's job directory."""
    (tmp_path / source.name).symlink_to(source)
    return tmp_path / source.name


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_caption_is_drawn_from_its_file_only(
    name: str, source: Path, tmp_path: Path
) -> None:
    words = HOSTILE[name]
    chain = compile_steps([{"op": "text", "text": words, "box": True}], job_dir(source, tmp_path))
    graph = ";".join(chain.graph)
    assert all(SAFE.match(s) for s in chain.graph), chain.graph
    assert words not in graph
    assert [(f.name, f.text) for f in chain.files] == [("captions/step-0.txt", words)]
    out = run_chain(chain, tmp_path)  # asserts ffmpeg succeeded
    assert (tmp_path / "captions/step-0.txt").read_bytes().decode("utf-8") == words
    assert out.stat().st_size > 0


@pytest.mark.parametrize("words", ["%{pts}", "%{n}", "%{eif:n*2:d}"])
def test_expansions_are_drawn_literally(words: str, source: Path, tmp_path: Path) -> None:
    """Frames a second apart are the same picture (lossless: FFV1); the control, the same
    pass with expansion on, draws a different number on each."""
    chain = compile_steps([{"op": "text", "text": words, "size": 48}], job_dir(source, tmp_path))
    out = run_chain(chain, tmp_path, "literal.mkv", codec=LOSSLESS)
    early, late = frame_rgb(out, 0.2), frame_rgb(out, 1.6)
    assert any(b > 100 for b in early[2]), "the caption was not drawn"
    assert early == late
    expanded = replace(
        chain, graph=tuple(s.replace("expansion=none", "expansion=normal") for s in chain.graph)
    )
    control = run_chain(expanded, tmp_path, "expanded.mkv", codec=LOSSLESS)
    assert frame_rgb(control, 0.2) != frame_rgb(control, 1.6)


def test_a_caption_over_the_limit_is_refused_by_the_model() -> None:
    with pytest.raises(ValidationError, match="at most 2000 characters"):
        STEPS.validate_python([{"op": "text", "text": "x" * (MAX_CAPTION_CHARS + 1)}])


def test_a_caption_that_is_no_unicode_is_refused_by_the_model() -> None:
    with pytest.raises(ValidationError):
        STEPS.validate_python([{"op": "text", "text": "a\ud800b"}])


def test_colours_and_places_are_closed_sets() -> None:
    for field, value in (("color", "#fff'"), ("color", "white"), ("position", "x=0")):
        with pytest.raises(ValidationError):
            STEPS.validate_python([{"op": "text", "text": "x", field: value}])
