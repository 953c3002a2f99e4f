"""core.media.gop: a GOP of whole frames that lasts at least one segment and less than a frame
more (hypothesis over common rates and segment lengths), and its keyframe expressions."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from core.media.gop import keyframe_expression, segment_gop, segment_length
from core.streaming.span import conditioned_rate

NTSC_RATES = [Fraction(b * 1000, 1001) for b in (24, 30, 48, 60, 120)]
RATES = [*NTSC_RATES, *map(Fraction, (10, 12, 15, 24, 25, 30, 50, 60)), Fraction(12.5)]
LENGTHS = [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 30.0]


@given(st.sampled_from(RATES), st.sampled_from(LENGTHS) | st.floats(1.0, 30.0))
def test_a_gop_lasts_a_segment_and_less_than_a_frame_more(rate: Fraction, seconds: float) -> None:
    gop = segment_gop(rate, seconds)
    assert gop / rate >= seconds
    assert gop / rate >= Fraction(f"{seconds:g}")  # what the muxers are told, exactly
    assert gop / rate < segment_length(seconds) + 1 / rate


@given(st.sampled_from(RATES), st.sampled_from(LENGTHS))
def test_every_gop_of_a_long_encode_is_a_segment_the_muxer_cuts(
    rate: Fraction, seconds: float
) -> None:
    """The dash muxer cuts once a segment has lasted seg_duration (in microseconds): every
    keyframe a GOP apart passes it, so no segment is two GOPs long."""
    gop = segment_gop(rate, seconds)
    seg_duration = Fraction(round(seconds * 1_000_000), 1_000_000)
    assert all((k + 1) * gop / rate - k * gop / rate >= seg_duration for k in range(0, 2000, 97))


def test_a_whole_rate_keeps_its_gop() -> None:
    assert segment_gop(Fraction(30), 4.0) == 120
    assert segment_gop(Fraction(25), 6.0) == 150
    assert segment_gop(Fraction(24), 2.0) == 48


def test_ntsc_rates_round_up_to_a_whole_frame() -> None:
    assert segment_gop(Fraction(conditioned_rate(29.97)), 4.0) == 120  # 4.004 s
    assert segment_gop(Fraction(conditioned_rate(23.976)), 4.0) == 96  # 4.004 s
    assert segment_gop(Fraction(conditioned_rate(59.94)), 6.0) == 360  # 6.006 s
    assert segment_gop(Fraction(30000, 1001), 1.0) == 30  # 1.001 s, not 29 frames


def test_keyframes_are_forced_by_frame_number() -> None:
    assert keyframe_expression(120) == "expr:gte(n,n_forced*120)"
    assert keyframe_expression(96, 480, 5) == "expr:gte(n+480,(n_forced+5)*96)"
