"""core.streaming.qc: the quality gate over facts measured from synthetic packet lists.

A good package is 12 s of 30 fps video in three rungs plus one audio rendition, cut into 4 s
segments with a keyframe every 120 packets; each defect fails exactly its own named check."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from core.streaming.playlists import MediaPlaylist
from core.streaming.qc import (
    DRIFT_LIMIT,
    Packet,
    PacketFold,
    QcInputs,
    QcReport,
    RenditionFacts,
    evaluate,
    facts_from_packets,
)

FPS = 30.0
SEG = 4.0
INIT_BYTES = 800
CHECKS = ["references", "durations", "segment_durations", "keyframes", "av_drift", "bitrates"]


def playlist(name: str, lengths: list[float], target: int = 4) -> MediaPlaylist:
    segments = tuple((f"seg-{name}-{i + 1:05d}.m4s", s) for i, s in enumerate(lengths))
    return MediaPlaylist(f"media_{name}.m3u8", f"init-{name}.m4s", segments, target)


def video(
    name: str,
    lengths: list[float] | None = None,
    *,
    shift: float = 0.0,
    not_key: int | None = None,
    target: int = 4,
) -> RenditionFacts:
    """One video rung: a keyframe at the start of every segment (but segment ``not_key``),
    every packet 1000 bytes after the init segment, pts shifted by ``shift``."""
    lengths = lengths if lengths is not None else [SEG, SEG, SEG]
    packets, offsets, pos, n = [], [], INIT_BYTES, 0
    for i, seconds in enumerate(lengths):
        offsets.append(pos)
        for k in range(round(seconds * FPS)):
            key = k == 0 and i != not_key
            packets.append(
                Packet(pts=n / FPS + shift, duration=1 / FPS, key=key, pos=pos, size=1000)
            )
            n, pos = n + 1, pos + 1000
    return facts_from_packets(name, "video", playlist(name, lengths, target), packets, offsets)


def audio(seconds: float = 12.0, lengths: list[float] | None = None) -> RenditionFacts:
    """Audio in 50 ms packets, all keyframes, 300 bytes each."""
    step = 0.05
    packets = [
        Packet(pts=i * step, duration=step, key=True, pos=INIT_BYTES + 300 * i)
        for i in range(round(seconds / step))
    ]
    offsets = [INIT_BYTES + 300 * round(i * SEG / step) for i in range(3)]
    return facts_from_packets(
        "aac", "audio", playlist("a", lengths or [4.0, 4.0, 4.0]), packets, offsets
    )


def inputs(*renditions: RenditionFacts, **changes: Any) -> QcInputs:
    renditions = renditions or (video("720p"), video("480p"), video("360p"), audio())
    base = QcInputs(
        source_duration=12.0,
        segment_seconds=SEG,
        fps=FPS,
        renditions=tuple(renditions),
        missing=(),
        mismatched=(),
    )
    return replace(base, **changes)


def failed(report: QcReport) -> list[str]:
    return [c.name for c in report.failures()]


def test_facts_from_packets_finds_each_segments_first_packet() -> None:
    facts = video("720p")
    assert facts.frames == 360
    assert facts.duration == pytest.approx(12.0)
    assert facts.segment_starts == pytest.approx((0.0, 4.0, 8.0))
    assert facts.segment_keyframes == (True, True, True)
    assert facts.segment_bits == (8 * 120 * 1000,) * 3
    assert facts.playlist.duration == 12.0


def test_facts_from_packets_orders_by_position_and_stops_at_the_end() -> None:
    packets = [
        Packet(pts=0.2, duration=0.1, key=False, pos=300),
        Packet(pts=0.0, duration=0.1, key=True, pos=100),
        Packet(pts=0.1, duration=0.1, key=False, pos=200),
    ]
    pl = playlist("x", [0.2, 0.1])
    facts = facts_from_packets("x", "video", pl, packets, [100, 250, 900])
    assert facts.segment_starts == (0.0, 0.2)  # nothing at or after byte 900
    assert facts.segment_keyframes == (True, False)
    assert facts.duration == pytest.approx(0.3)
    assert facts_from_packets("x", "video", pl, [], [0]).duration == 0.0


def test_a_good_package_passes_every_check() -> None:
    report = evaluate(inputs())
    assert report.passed
    assert [c.name for c in report.checks] == CHECKS
    assert report.failures() == []
    assert "all present" in report.checks[0].detail
    assert "16 files referenced" in report.checks[0].detail  # 4 renditions x (init + 3)


def test_a_short_last_segment_and_unknown_source_duration_pass() -> None:
    short_end = [SEG, SEG, 2.5]
    rungs = (video("720p", short_end), video("360p", short_end), audio(10.5, short_end))
    assert evaluate(inputs(*rungs, source_duration=10.5)).passed
    assert evaluate(inputs(source_duration=0.0)).passed


def test_a_missing_file_fails_references() -> None:
    report = evaluate(inputs(missing=("cmaf/seg-0-00003.m4s",)))
    assert failed(report) == ["references"]
    assert "missing cmaf/seg-0-00003.m4s" in report.failures()[0].detail


def test_hls_dash_mismatch_fails_references() -> None:
    why = "manifest.mpd names 3 renditions' segments that the HLS playlists (4) do not"
    report = evaluate(inputs(mismatched=(why,)))
    assert failed(report) == ["references"]
    assert why in report.failures()[0].detail


def test_a_package_five_seconds_short_of_the_source_fails_durations() -> None:
    report = evaluate(inputs(source_duration=17.0))
    assert failed(report) == ["durations"]
    assert "720p 12.000s" in report.failures()[0].detail
    # Within one segment of the source is fine.
    assert evaluate(inputs(source_duration=15.5)).passed


def test_one_rendition_five_seconds_short_fails_durations() -> None:
    short = replace(video("480p"), duration=7.0)
    report = evaluate(inputs(video("720p"), short, video("360p"), audio()))
    assert "durations" in failed(report)
    assert "480p 7.000s" in report.failures()[0].detail


def test_a_seven_second_segment_fails_segment_durations() -> None:
    lengths = [SEG, 7.0, 1.0]
    rungs = (video("720p", lengths), video("360p", lengths), audio(12.0, lengths))
    report = evaluate(inputs(*rungs))
    assert failed(report) == ["segment_durations"]
    assert "720p [4.0, 7.0, 1.0]" in report.failures()[0].detail


def test_a_short_segment_before_the_last_fails_segment_durations() -> None:
    lengths = [SEG, 2.0, SEG, 2.0]
    rungs = (video("720p", lengths), video("360p", lengths), audio(12.0, lengths))
    assert failed(evaluate(inputs(*rungs))) == ["segment_durations"]


def test_a_segment_longer_than_the_target_duration_fails_segment_durations() -> None:
    rungs = (video("720p", target=3), video("360p", target=3), audio())
    report = evaluate(inputs(*rungs))
    assert failed(report) == ["segment_durations"]
    assert "EXT-X-TARGETDURATION 3" in report.failures()[0].detail


def test_a_segment_starting_on_a_non_keyframe_fails_keyframes() -> None:
    rungs = (video("720p"), video("480p", not_key=1), video("360p"), audio())
    report = evaluate(inputs(*rungs))
    assert failed(report) == ["keyframes"]
    assert "480p segment 2 starts without a keyframe" in report.failures()[0].detail


def test_rungs_whose_segments_start_100ms_apart_fail_keyframes() -> None:
    rungs = (video("720p"), video("480p", shift=0.1), video("360p"), audio())
    report = evaluate(inputs(*rungs))
    assert failed(report) == ["keyframes"]
    assert "480p segment starts differ from 720p" in report.failures()[0].detail


def test_a_shift_within_half_a_frame_passes_keyframes() -> None:
    rungs = (video("720p"), video("480p", shift=0.01), audio())
    assert evaluate(inputs(*rungs)).passed


def test_unreadable_segments_fail_keyframes() -> None:
    truncated = replace(video("360p"), segment_starts=(0.0, 4.0), segment_keyframes=(True, True))
    report = evaluate(inputs(video("720p"), truncated, audio()))
    assert failed(report) == ["keyframes"]
    assert "360p has 2 readable segments of 3" in report.failures()[0].detail


def test_audio_150ms_longer_than_video_fails_av_drift() -> None:
    report = evaluate(inputs(video("720p"), video("360p"), audio(12.15)))
    assert failed(report) == ["av_drift"]
    assert "150 ms" in report.failures()[0].detail
    assert f"limit {DRIFT_LIMIT * 1000:.0f} ms" in report.failures()[0].detail


def test_audio_within_the_drift_limit_passes() -> None:
    assert evaluate(inputs(video("720p"), audio(12.05))).passed
    assert evaluate(inputs(video("720p"), audio(11.95))).passed


def test_audio_only_and_video_only_packages_skip_the_comparisons() -> None:
    only_audio = evaluate(inputs(audio(), fps=0.0))
    assert only_audio.passed
    details = {c.name: c.detail for c in only_audio.checks}
    assert details["keyframes"] == "no video renditions"
    assert details["av_drift"] == "no audio and video to compare"
    assert evaluate(inputs(video("720p"), video("360p"))).passed


def test_image_problems_fail_images() -> None:
    problems = ("thumbnails: 1 of 2 pictures missing", "storyboard-001.jpg is empty")
    report = evaluate(inputs(images=problems))
    assert not report.passed
    assert failed(report) == ["images"]
    assert [c.name for c in report.checks] == [*CHECKS, "images"]
    assert report.failures()[0].detail == "; ".join(problems)


def test_several_defects_are_all_named() -> None:
    rungs = (video("720p"), video("480p", not_key=2), audio(12.3))
    report = evaluate(inputs(*rungs, missing=("x.m4s",), images=("no poster",)))
    assert failed(report) == ["references", "keyframes", "av_drift", "images"]
    assert QcReport.model_validate(report.model_dump()) == report


def test_the_fold_is_the_same_in_any_order_and_keeps_one_packet_a_segment() -> None:
    pl = video("720p").playlist
    packets, pos = [], INIT_BYTES
    for n in range(360):
        packets.append(Packet(pts=n / FPS, duration=1 / FPS, key=n % 120 == 0, pos=pos))
        pos += 1000
    offsets = [INIT_BYTES + k * 120_000 for k in range(3)]
    shuffled = packets[::-1][1::2] + packets[::-1][0::2]
    fold = PacketFold(offsets)
    for packet in shuffled:
        fold.add(packet)
    assert fold.facts("720p", "video", pl) == facts_from_packets(
        "720p", "video", pl, packets, offsets
    )
    assert len(fold._first) == 3  # memory: a packet per segment, not per packet
