"""core.streaming.qc's bitrate check: every video rung within its maxrate as far as its VBV buffer
allows (over any run of segments lasting t seconds, at most maxrate * t + bufsize bits),
measured on the elementary stream's packet sizes."""

from __future__ import annotations

import pytest

from core.streaming.playlists import MediaPlaylist
from core.streaming.qc import (
    Packet,
    QcCheck,
    QcInputs,
    RateCap,
    RenditionFacts,
    evaluate,
    facts_from_packets,
)

FPS = 30
MAXRATE = 1_000_000  # bits per second
BUFSIZE = 1_500_000  # bits: 1.5 s of maxrate, as the shipped presets have
CAP = RateCap("720p", MAXRATE, BUFSIZE)


def rung(
    kbits: list[float], lengths: list[float] | None = None, name: str = "720p"
) -> RenditionFacts:
    """A rendition whose segments carry ``kbits`` of packets each, 30 frames a second."""
    lengths = lengths or [4.0] * len(kbits)
    packets, offsets, pos, n = [], [], 1000, 0
    for bits, seconds in zip(kbits, lengths, strict=True):
        offsets.append(pos)
        frames = round(seconds * FPS)
        per_frame, rest = divmod(round(bits * 1000 / 8), frames)
        for k in range(frames):
            size = per_frame + (rest if k == 0 else 0)
            packets.append(Packet(n / FPS, 1 / FPS, k == 0, pos, size))
            n, pos = n + 1, pos + size
    segments = tuple((f"seg-{i}.m4s", s) for i, s in enumerate(lengths))
    playlist = MediaPlaylist(f"{name}.m3u8", "init.m4s", segments, 4)
    return facts_from_packets(name, "video", playlist, packets, offsets)


def check(*renditions: RenditionFacts, caps: tuple[RateCap, ...] = (CAP,)) -> QcCheck:
    inputs = QcInputs(0.0, 4.0, FPS, renditions, (), (), rate_caps=caps)
    (found,) = [c for c in evaluate(inputs).checks if c.name == "bitrates"]
    return found


def test_segment_bits_are_the_packets_bytes() -> None:
    assert rung([4000, 3000]).segment_bits == (4_000_000, 3_000_000)


def test_a_rung_at_its_maxrate_passes_and_says_its_peak() -> None:
    result = check(rung([4000, 4000, 2000], [4.0, 4.0, 2.0]))
    assert result.passed
    assert "720p 1000/1000" in result.detail


@pytest.mark.parametrize(
    ("kbits", "lengths", "passed"),
    [
        # one 4 s segment may carry the whole buffer above maxrate: 1375 kb/s, 37.5 % over
        ([4000, 5500, 2000], [4.0, 4.0, 2.0], True),
        ([4000, 5510, 2000], [4.0, 4.0, 2.0], False),
        # a short last segment the same, over its own length: 1.5 Mbit over 0.5 s
        ([4000, 4000, 500 + 1500], [4.0, 4.0, 0.5], True),
        ([4000, 4000, 500 + 1510], [4.0, 4.0, 0.5], False),
    ],
)
def test_one_segment_may_rise_above_maxrate_by_the_buffer_and_no_more(
    kbits: list[float], lengths: list[float], passed: bool
) -> None:
    result = check(rung(kbits, lengths))
    assert result.passed is passed, result.detail


def test_a_long_run_a_little_above_maxrate_fails_though_no_segment_alone_would() -> None:
    # 10 % over maxrate in each 4 s segment: 400 kbit each, past the buffer by the fourth
    result = check(rung([4400] * 3))
    assert result.passed
    result = check(rung([4400] * 4))
    assert not result.passed
    assert result.detail == (
        "720p segments 1-4 carry 1600 kbit over its maxrate of 1000 kb/s, more than its "
        "1500 kbit buffer allows (peak 1100 kb/s)"
    )


def test_the_worst_run_is_named_and_a_quiet_stretch_resets_it() -> None:
    result = check(rung([4400, 4400, 2000, 4800, 4800, 4800]))
    assert not result.passed
    assert "720p segments 4-6 carry 2400 kbit" in result.detail


def test_every_rung_against_its_own_cap_and_audio_or_uncapped_renditions_are_not_judged() -> None:
    loud = rung([9000], name="480p")
    caps = (CAP, RateCap("480p", 500_000, 750_000))
    result = check(rung([4000]), loud, caps=caps)
    assert not result.passed
    assert result.detail.startswith("480p segments 1-1 carry 7000 kbit over its maxrate of 500")
    assert check(rung([9000], name="1080p")).detail == "no video rung with a maxrate"
    assert check(rung([9000]), caps=()).passed


def test_a_failing_bitrate_fails_the_package_with_the_check_named() -> None:
    report = evaluate(QcInputs(0.0, 4.0, FPS, (rung([9000]),), (), (), rate_caps=(CAP,)))
    assert not report.passed
    assert [c.name for c in report.failures()] == ["bitrates"]
