"""core.streaming.playlists finishing the HLS playlists ffmpeg 5.1 wrote (`ffmpeg_manifests`,
checked through the m3u8 library): VOD media playlists with the same segments, masters with measured
rates, frame rate and named audio, both idempotent; and measuring the rates."""

from __future__ import annotations

import math

import m3u8
import pytest

from core.streaming.audio_manifests import AudioLabel
from core.streaming.playlists import (
    MediaPlaylist,
    finish_master,
    finish_media,
    measured_rate,
    read_master,
    read_media,
)
from tests.unit.ffmpeg_manifests import (
    CMAF_MASTER,
    CMAF_MEDIA_0,
    CMAF_MEDIA_3,
    CMAF_SIZES,
    RATES,
    RUNT_MEDIA_3,
    RUNT_SIZES,
    TS_MASTER,
    TS_MEDIA_0,
)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def segments(doc: m3u8.M3U8) -> list[tuple[str | None, float | None]]:
    return [(s.uri, s.duration) for s in doc.segments]


MEDIA = [
    pytest.param(CMAF_MEDIA_0, "init-0.m4s", id="cmaf-video"),
    pytest.param(CMAF_MEDIA_3, "init-3.m4s", id="cmaf-audio"),
    pytest.param(TS_MEDIA_0, None, id="hls-ts"),
]


@pytest.mark.parametrize(("raw", "init"), MEDIA)
def test_finish_media_makes_a_vod_playlist_with_the_same_segments(
    raw: str, init: str | None
) -> None:
    finished = finish_media(raw)
    before, after = m3u8.loads(raw), m3u8.loads(finished)

    assert after.playlist_type == "vod"
    assert after.is_independent_segments
    assert after.is_endlist
    assert segments(after) == segments(before)
    assert after.target_duration == before.target_duration
    assert (after.media_sequence or 0) == (before.media_sequence or 0)
    assert after.version == before.version
    assert [m.uri for m in after.segment_map] == ([init] if init else [])
    assert all(s.program_date_time is None for s in after.segments)

    raw_lines = lines(finished)
    assert raw_lines[0] == "#EXTM3U"
    assert raw_lines.count("#EXT-X-PLAYLIST-TYPE:VOD") == 1
    assert raw_lines.count("#EXT-X-INDEPENDENT-SEGMENTS") == 1
    assert raw_lines.count("#EXT-X-ENDLIST") == 1
    assert raw_lines[-1] == "#EXT-X-ENDLIST"
    assert not any("PROGRAM-DATE-TIME" in line for line in raw_lines)
    assert [line for line in raw_lines if not line.startswith("#")] == [
        line for line in lines(raw) if not line.startswith("#")
    ]
    assert sum(line.startswith("#EXT-X-MAP:") for line in raw_lines) == (1 if init else 0)
    if init:
        assert f'#EXT-X-MAP:URI="{init}"' in raw_lines


def test_finish_master_sets_measured_rates_frame_rate_and_independent_segments() -> None:
    finished = finish_master(CMAF_MASTER, RATES, 30.0)
    doc = m3u8.loads(finished)

    assert doc.is_independent_segments
    assert lines(finished).count("#EXT-X-INDEPENDENT-SEGMENTS") == 1
    info = {p.uri: p.stream_info for p in doc.playlists}
    assert list(info) == ["media_0.m3u8", "media_1.m3u8", "media_2.m3u8"]
    assert (info["media_0.m3u8"].bandwidth, info["media_0.m3u8"].average_bandwidth) == (
        3_100_000,
        2_900_000,
    )
    assert (info["media_1.m3u8"].bandwidth, info["media_1.m3u8"].average_bandwidth) == (
        1_600_000,
        1_450_000,
    )
    # A variant missing from the rates keeps ffmpeg's nominal figure.
    assert info["media_2.m3u8"].bandwidth == 932_168
    assert info["media_2.m3u8"].average_bandwidth is None
    assert all(s.frame_rate == 30.0 for s in info.values())
    assert [s.resolution for s in info.values()] == [(1280, 720), (864, 486), (640, 360)]
    assert all(s.audio == "group_A1" for s in info.values())
    assert all((s.codecs or "").startswith("avc1.") for s in info.values())
    # The audio rendition group survives untouched.
    assert [(m.type, m.group_id, m.name, m.default, m.uri) for m in doc.media] == [
        ("AUDIO", "group_A1", "audio_3", "YES", "media_3.m3u8")
    ]
    assert "AVERAGE-BANDWIDTH=2900000" in finished
    assert "FRAME-RATE=30" in finished


def test_finish_master_rounds_the_frame_rate_and_reads_back() -> None:
    finished = finish_master(TS_MASTER, {"media_0.m3u8": (3_300_000, 3_000_000)}, 30000 / 1001)
    doc = m3u8.loads(finished)
    assert doc.is_independent_segments
    assert [p.stream_info.frame_rate for p in doc.playlists] == [29.97, 29.97, 29.97]
    master = read_master(finished)
    assert [(v.uri, v.width, v.height) for v in master.variants] == [
        ("media_0.m3u8", 720, 1280),
        ("media_1.m3u8", 486, 864),
        ("media_2.m3u8", 360, 640),
    ]
    assert [v.bandwidth for v in master.variants] == [3_300_000, 1_680_800, 1_020_800]


def test_finish_master_without_fps_sets_no_frame_rate() -> None:
    assert "FRAME-RATE" not in finish_master(CMAF_MASTER, RATES, None)


def test_finish_master_names_the_audio_rendition_and_states_its_channels() -> None:
    label = AudioLabel("English", "aac-128k", 2, "eng", True, True, None, (131_000, 129_000))
    finished = finish_master(CMAF_MASTER, RATES, 30.0, {"media_3.m3u8": label})
    doc = m3u8.loads(finished)
    (audio,) = doc.media
    assert (audio.name, audio.group_id, audio.language) == ("English", "aac-128k", "eng")
    assert (audio.default, audio.autoselect, audio.channels) == ("YES", "YES", "2")
    assert 'CHANNELS="2"' in finished
    # each variant names the group, and counts its audio's measured rate
    assert [p.stream_info.audio for p in doc.playlists] == ["aac-128k"] * 3
    assert doc.playlists[0].stream_info.bandwidth == 3_100_000 + 131_000
    assert doc.playlists[0].stream_info.average_bandwidth == 2_900_000 + 129_000


@pytest.mark.parametrize("raw", [CMAF_MEDIA_0, CMAF_MEDIA_3, TS_MEDIA_0])
def test_finish_media_is_idempotent(raw: str) -> None:
    once = finish_media(raw)
    assert finish_media(once) == once


@pytest.mark.parametrize("raw", [CMAF_MASTER, TS_MASTER])
def test_finish_master_is_idempotent(raw: str) -> None:
    once = finish_master(raw, RATES, 29.97)
    assert finish_master(once, RATES, 29.97) == once


def test_measured_rate_of_a_recorded_playlist_average_counts_init() -> None:
    video = read_media("media_0.m3u8", CMAF_MEDIA_0)
    peak, average = measured_rate(video, CMAF_SIZES)
    assert peak == 2_801_476  # ceil(max(8 * 1400738 / 4, 8 * 698829 / 2))
    assert average == 2_800_535  # ceil(8 * (834 + 1400738 + 698829) / 6)

    audio = read_media("media_3.m3u8", CMAF_MEDIA_3)
    assert measured_rate(audio, CMAF_SIZES) == (131_829, 131_962)


def test_measured_rate_synthetic() -> None:
    media = MediaPlaylist("m.m3u8", "init.mp4", (("a", 2.0), ("b", 1.0), ("c", 0.0)), 2)
    sizes = {"init.mp4": 1000, "a": 500, "b": 400, "c": 10_000}
    # Runs of 1 to 3 s (half to one and a half targets): a, a+b, b, b+c, a+b+c; b+c is the
    # densest (a segment of no length has no rate of its own, but its bits count in a run).
    assert measured_rate(media, sizes) == (8 * 10_400, 8 * 11_900 // 3 + 1)
    assert measured_rate(MediaPlaylist("m", None, (("a", 2.0),), 2), {}) == (0, 0)
    assert measured_rate(MediaPlaylist("m", None, (), 0), {"x": 1}) == (0, 0)


def test_measured_rate_counts_a_runt_only_with_its_neighbour() -> None:
    # 4 s segments and a last one of 50 ms: alone it would be 8 * 1000 / 0.05 = 160 kb/s.
    media = MediaPlaylist("m", None, (("a", 4.0), ("b", 4.0), ("c", 0.05)), 4)
    sizes = {"a": 50_000, "b": 60_000, "c": 1_000}
    assert measured_rate(media, sizes)[0] == 120_494  # ceil(8 * 61_000 / 4.05)
    # two short segments make a run; one alone (under half the target) does not
    media = MediaPlaylist("m", None, (("a", 1.0), ("b", 1.0), ("c", 4.0)), 4)
    sizes = {"a": 30_000, "b": 10_000, "c": 40_000}
    assert measured_rate(media, sizes)[0] == 160_000  # a+b: 8 * 40_000 / 2


def test_measured_rate_of_a_playlist_shorter_than_half_its_target_is_its_densest_segment() -> None:
    media = MediaPlaylist("m", None, (("a", 0.5), ("b", 1.0)), 4)
    assert measured_rate(media, {"a": 1_000, "b": 1_000})[0] == 16_000


def test_measured_rate_of_a_recorded_runt_audio_segment() -> None:
    """The 53 ms last audio segment ffmpeg cut after 20 s of sound (RUNT_MEDIA_3): counted
    alone it made a peak of 173,702 b/s; in a run with the segment before it, 130,518."""
    audio = read_media("media_3.m3u8", RUNT_MEDIA_3)
    assert [round(d, 6) for _, d in audio.segments][-2:] == [4.010667, 0.053333]
    peak, average = measured_rate(audio, RUNT_SIZES)
    assert peak == math.ceil(8 * (65_145 + 1_158) / (4.010667 + 0.053333))
    assert peak < 131_000
    assert abs(audio.duration - 20.0) < 1e-5
    assert average == math.ceil(8 * sum(RUNT_SIZES.values()) / audio.duration)
