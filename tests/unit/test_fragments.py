"""core.streaming.fragments: a media segment's start, length, sample count and first sample's
sync flag, and the init segment's timescale and handler, from crafted boxes."""

from __future__ import annotations

import pytest

from core.streaming.fragments import FragmentFacts, TrackDefaults, read_fragment, read_init
from tests.unit.fmp4_boxes import NON_SYNC, SYNC, box, init_segment, media_segment


@pytest.mark.parametrize("version", [0, 1])
def test_the_init_segment_states_the_timescale_and_handler(version: int) -> None:
    track = read_init(init_segment(15360, b"vide", version=version))
    assert track == TrackDefaults(timescale=15360, handler="vide", sample_duration=0,
                                  sample_flags=0)  # fmt: skip


def test_an_init_segment_without_mdhd_is_none() -> None:
    assert read_init(box(b"moov", box(b"trak"))) is None


def test_a_fragment_with_durations_in_its_trun() -> None:
    data = media_segment(61440, [512] * 120, tfdt_version=1)
    assert read_fragment(data) == FragmentFacts(61440, 61440, 120, starts_with_sync=True)


def test_a_fragment_with_the_tfhd_default_duration_and_a_32_bit_tfdt() -> None:
    data = media_segment(1024, [0] * 10, default_duration=1024, tfdt_version=0)
    assert read_fragment(data) == FragmentFacts(1024, 10240, 10, starts_with_sync=True)


def test_the_first_sample_flags_say_whether_it_opens_on_a_keyframe() -> None:
    assert not read_fragment(media_segment(0, [512] * 4, NON_SYNC)).starts_with_sync  # type: ignore[union-attr]
    per_sample = media_segment(0, [512] * 4, NON_SYNC, per_sample_flags=True)
    assert not read_fragment(per_sample).starts_with_sync  # type: ignore[union-attr]
    synced = media_segment(0, [512] * 4, SYNC, per_sample_flags=True)
    assert read_fragment(synced).starts_with_sync  # type: ignore[union-attr]


def test_several_fragments_are_summed_from_the_first_decode_time() -> None:
    data = media_segment(100, [10] * 3) + media_segment(130, [10] * 2, NON_SYNC)
    assert read_fragment(data) == FragmentFacts(100, 50, 5, starts_with_sync=True)


def test_no_moof_or_a_cut_box_is_none() -> None:
    assert read_fragment(box(b"mdat", b"x" * 10)) is None
    assert read_fragment(media_segment(0, [1])[:20]) is None
    assert read_fragment(b"") is None
