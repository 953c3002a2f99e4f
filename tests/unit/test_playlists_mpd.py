"""core.streaming.playlists finishing the MPD ffmpeg 5.1's dash muxer wrote (`ffmpeg_manifests`),
checked through the ``mpegdash`` parser, not our own reader: measured bandwidths, a
maxSegmentDuration and mediaPresentationDuration no shorter than the segments and representations,
and bitstreamSwitching only where one initialization segment serves the whole set."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from mpegdash.parser import MPEGDASHParser

from core.streaming.playlists import finish_mpd, measured_rate, read_media, read_mpd
from tests.unit.ffmpeg_manifests import (
    CMAF_MPD,
    NTSC_MEDIA_0,
    NTSC_MEDIA_1,
    NTSC_MPD,
    NTSC_SIZES,
    RUNT_MPD,
)

RECORDED = [
    pytest.param(CMAF_MPD, id="cmaf-6s"),
    pytest.param(RUNT_MPD, id="runt-20s"),
    pytest.param(NTSC_MPD, id="ntsc-10s"),
]
ISO_SECONDS = re.compile(r"^PT(\d+)\.(\d{3})S$")


def seconds(duration: str) -> float:
    match = ISO_SECONDS.match(duration)
    assert match, duration
    return int(match.group(1)) + int(match.group(2)) / 1000


def representations(mpd: Any) -> list[tuple[Any, Any, list[float]]]:
    """(adaptation set, representation, segment seconds) from mpegdash's model."""
    out = []
    for aset in mpd.periods[0].adaptation_sets:
        for rep in aset.representations:
            tpl = rep.segment_templates[0]
            lengths: list[float] = []
            for s in tpl.segment_timelines[0].Ss:
                lengths += [s.d / tpl.timescale] * ((s.r or 0) + 1)
            out.append((aset, rep, lengths))
    return out


@pytest.mark.parametrize("raw", RECORDED)
def test_finished_durations_are_never_shorter_than_the_segments(raw: str) -> None:
    mpd = MPEGDASHParser.parse(finish_mpd(raw, {}))
    reps = representations(mpd)
    longest = max(d for _, _, lengths in reps for d in lengths)
    assert longest <= seconds(mpd.max_segment_duration) < longest + 0.001
    total = max(sum(lengths) for _, _, lengths in reps)
    assert total <= seconds(mpd.media_presentation_duration) < total + 0.001


def test_the_muxer_states_the_target_where_segments_run_longer() -> None:
    """What the finishing is for: the muxer states the target (the audio set's own, 8 s,
    where the audio is cut with the video), while AAC segments run to 4.011 s (1024-sample
    frames at 48 kHz) and 59.94 fps segments to 4.004 s."""
    runt, ntsc = MPEGDASHParser.parse(RUNT_MPD), MPEGDASHParser.parse(NTSC_MPD)
    assert (runt.max_segment_duration, ntsc.max_segment_duration) == ("PT4.0S", "PT8.0S")
    assert MPEGDASHParser.parse(finish_mpd(RUNT_MPD, {})).max_segment_duration == "PT4.011S"
    assert MPEGDASHParser.parse(finish_mpd(NTSC_MPD, {})).max_segment_duration == "PT4.004S"
    # and a 9.993 s presentation as 9.9 s
    assert ntsc.media_presentation_duration == "PT9.9S"
    assert MPEGDASHParser.parse(finish_mpd(NTSC_MPD, {})).media_presentation_duration == (
        "PT9.994S"
    )


@pytest.mark.parametrize("raw", RECORDED)
def test_bitstream_switching_only_where_one_init_segment_serves_the_set(raw: str) -> None:
    before = MPEGDASHParser.parse(raw)
    assert all(a.bitstream_switching for a in before.periods[0].adaptation_sets)
    after = MPEGDASHParser.parse(finish_mpd(raw, {}))
    for aset in after.periods[0].adaptation_sets:
        inits = {
            r.segment_templates[0].initialization.replace("$RepresentationID$", r.id)
            for r in aset.representations
        }
        assert len(inits) == len(aset.representations)  # each its own
        assert aset.bitstream_switching is (True if len(inits) == 1 else None)


def test_video_sets_of_several_rungs_lose_bitstream_switching() -> None:
    sets = MPEGDASHParser.parse(finish_mpd(RUNT_MPD, {})).periods[0].adaptation_sets
    assert [(a.content_type, len(a.representations), a.bitstream_switching) for a in sets] == [
        ("video", 3, None),
        ("audio", 1, True),
    ]


def test_bandwidths_are_the_measured_peaks_of_the_same_files() -> None:
    media = {
        p.init: p
        for p in (
            read_media("media_0.m3u8", NTSC_MEDIA_0),
            read_media("media_1.m3u8", NTSC_MEDIA_1),
        )
    }
    peaks = {r.id: measured_rate(media[r.init], NTSC_SIZES)[0] for r in read_mpd(NTSC_MPD)}
    # the densest segment of each: the video's first 4.004 s, the audio's last 2.014 s
    assert peaks == {"0": math.ceil(8 * 402_688 / 4.004), "1": math.ceil(8 * 33_099 / 2.014333)}
    finished = MPEGDASHParser.parse(finish_mpd(NTSC_MPD, peaks))
    before = MPEGDASHParser.parse(NTSC_MPD)
    assert [r.bandwidth for _, r, _ in representations(before)] == [800_000, 128_000]
    assert [r.bandwidth for _, r, _ in representations(finished)] == [peaks["0"], peaks["1"]]


def test_a_representation_without_a_figure_keeps_its_own() -> None:
    finished = MPEGDASHParser.parse(finish_mpd(CMAF_MPD, {"1": 1_500_000}))
    assert [r.bandwidth for _, r, _ in representations(finished)] == [
        2_800_000,
        1_500_000,
        800_000,
        128_000,
    ]


@pytest.mark.parametrize("raw", RECORDED)
def test_finishing_keeps_every_segment_and_is_idempotent(raw: str) -> None:
    once = finish_mpd(raw, {"0": 1_000_000})
    assert finish_mpd(once, {"0": 1_000_000}) == once
    assert once.startswith('<?xml version="1.0" encoding="utf-8"?>\n<MPD ')
    strip = [(r.id, r.content_type, r.width, r.height, r.files, r.durations) for r in read_mpd(raw)]
    assert [
        (r.id, r.content_type, r.width, r.height, r.files, r.durations) for r in read_mpd(once)
    ] == strip
    before, after = MPEGDASHParser.parse(raw), MPEGDASHParser.parse(once)
    assert after.min_buffer_time == before.min_buffer_time
    assert after.profiles == before.profiles
    assert after.type == before.type
