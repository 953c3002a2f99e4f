"""The minimal CEA-708 decoder: a service's windows and text as WebVTT cues."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidMedia
from core.text.cea708_text import ServiceDecoder, service_cues
from core.text.subtitles import MAX_CUE_CHARS, MAX_CUES, Cue

HIDDEN = bytes([0x18, 0x41, 0x50, 0x70, 0x1F, 0x09])  # DefineWindow's parameters
VISIBLE = bytes([0x38, 0x41, 0x50, 0x70, 0x1F, 0x09])


def define(n: int, params: bytes = HIDDEN) -> bytes:
    return bytes([0x98 + n]) + params


def windows(code: int, *ns: int) -> bytes:
    return bytes([code, sum(1 << n for n in ns)])


DSW, HDW, TGW, CLW, DLW = 0x89, 0x8A, 0x8B, 0x88, 0x8C


def test_a_pop_on_caption_is_shown_from_display_to_clear() -> None:
    blocks = [
        (1.0, define(0) + b"HELLO\rTHERE\x03"),
        (2.0, windows(DSW, 0)),
        (4.0, windows(CLW, 0) + windows(HDW, 0)),
    ]
    assert service_cues(blocks, 9.0) == (Cue(2.0, 4.0, "HELLO\nTHERE"),)


def test_two_windows_swap_with_toggle() -> None:
    blocks = [
        (0.0, define(0) + b"ONE" + windows(DSW, 0)),
        (1.0, define(1) + b"TWO"),  # loaded off screen while ONE shows
        (2.0, windows(TGW, 0, 1)),
        (3.0, windows(DLW, 1)),
    ]
    assert service_cues(blocks, 9.0) == (Cue(0.0, 2.0, "ONE"), Cue(2.0, 3.0, "TWO"))


def test_a_caption_still_shown_ends_at_the_end() -> None:
    assert service_cues([(5.0, define(2, VISIBLE) + b"LAST")], 7.5) == (Cue(5.0, 7.5, "LAST"),)


def test_attributes_and_extended_codes_are_read_past() -> None:
    spa, spc, spl, swa = b"\x90\x00\x00", b"\x91\x00\x00\x00", b"\x92\x00\x00", b"\x97" + 4 * b"\0"
    ext = b"\x10\x25" + b"\x10\x08\x00" + b"\x10\x80" + 4 * b"\0" + b"\x10\x90\x02ab"  # G2, C2, C3
    c0 = b"\x11\x41" + b"\x18\x41\x41"  # a 1- and a 2-byte parameter, not text
    decoder = ServiceDecoder()
    decoder.feed(define(0, VISIBLE) + spa + spc + spl + swa + b"A" + ext + c0 + b"B\x7f\xe9")
    assert decoder.shown() == ("AB♪é",)


def test_backspace_row_clear_form_feed_and_reset() -> None:
    decoder = ServiceDecoder()
    decoder.feed(define(0, VISIBLE) + b"ABX\x08\rGONE\x0e" + b"C")
    assert decoder.shown() == ("AB", "C")
    decoder.feed(b"\x0cNEW")
    assert decoder.shown() == ("NEW",)
    decoder.feed(b"\x8f" + b"LOST")  # reset: no window to write to
    assert decoder.shown() == ()


def test_text_is_escaped_and_bounded() -> None:
    (cue,) = service_cues([(0.0, define(0, VISIBLE) + b"<b>&</b>")], 1.0)
    assert cue.text == "&lt;b&gt;&amp;&lt;/b&gt;"
    rows = b"".join(define(n, VISIBLE) + (b"&" * 60 + b"\r") * 20 for n in range(8))
    (cue,) = service_cues([(0.0, rows)], 1.0)
    assert 0 < len(cue.text) <= MAX_CUE_CHARS
    assert all(line == "&amp;" * 42 for line in cue.text.split("\n"))


def test_too_many_cues_are_refused() -> None:
    flips = [(float(t), windows(TGW, 0)) for t in range(2 * MAX_CUES + 4)]
    with pytest.raises(InvalidMedia, match="cues"):
        service_cues([(0.0, define(0) + b"X"), *flips], 1e9)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=12))
def test_any_bytes_decode_to_bounded_cues_or_none(blocks: list[bytes]) -> None:
    """A hostile caption stream is data: it never breaks the decoder, and its cues are
    ordered, escaped text within the bounds."""
    cues = service_cues([(float(t), b) for t, b in enumerate(blocks)], 99.0)
    assert all(c.start < c.end and 0 < len(c.text) <= MAX_CUE_CHARS for c in cues)
    assert all("<" not in c.text and "" not in c.text.split("\n") for c in cues)
