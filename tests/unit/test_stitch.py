"""core.streaming.stitch and core.streaming.fragment_time: range encodes' timelines joined
into the whole package's manifests, and their fragments moved to their place in time."""

from __future__ import annotations

import struct

import m3u8
import pytest

from core.errors import QcFailed
from core.streaming.fragment_time import retime
from core.streaming.playlists import read_mpd
from core.streaming.ranges import SegmentRange
from core.streaming.stitch import (
    RangeListing,
    Timeline,
    joined,
    landed_files,
    stitch_master,
    stitch_media,
    stitch_mpd,
    timelines,
    whole_timeline,
)

TEMPLATE = (
    '<SegmentTemplate timescale="30000" initialization="init-$RepresentationID$.m4s" '
    'media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">'
)


def mpd(video: str, audio: str = "", codecs: str = "avc1.64001e") -> str:
    """An MPD shaped as ffmpeg 5.1's dash muxer writes it (tabs and all)."""
    audio_set = (
        '\t\t<AdaptationSet id="1" contentType="audio">\n'
        '\t\t\t<Representation id="1" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="1">\n'
        f"\t\t\t\t{TEMPLATE.replace('30000', '48000')}\n"
        f"\t\t\t\t\t<SegmentTimeline>\n{audio}\t\t\t\t\t</SegmentTimeline>\n"
        "\t\t\t\t</SegmentTemplate>\n\t\t\t</Representation>\n\t\t</AdaptationSet>\n"
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">\n\t<Period id="0">\n'
        '\t\t<AdaptationSet id="0" contentType="video">\n'
        f'\t\t\t<Representation id="0" mimeType="video/mp4" codecs="{codecs}" bandwidth="1">\n'
        f"\t\t\t\t{TEMPLATE}\n\t\t\t\t\t<SegmentTimeline>\n{video}"
        "\t\t\t\t\t</SegmentTimeline>\n\t\t\t\t</SegmentTemplate>\n\t\t\t</Representation>\n"
        f"\t\t</AdaptationSet>\n{audio_set if audio else ''}\t</Period>\n</MPD>\n"
    )


def entry(t: int | None, d: int, r: int = 0) -> str:
    start = f't="{t}" ' if t is not None else ""
    repeat = f' r="{r}"' if r else ""
    return f'\t\t\t\t\t\t<S {start}d="{d}"{repeat} />\n'


def chunk(first: int, count: int, last: bool = False) -> SegmentRange:
    return SegmentRange(first, count, 120 * first, 120 * (first + count), first, last)


FIRST = RangeListing(chunk(0, 3), mpd(entry(0, 120120, 2), codecs="avc1.64001f"))
# the second range encoded a warm-up segment (segment 3) before its own
SECOND = RangeListing(chunk(3, 3, last=True), mpd(entry(240240, 120120, 3)), warmup=1)


def test_timelines_read_the_muxers_segment_timeline() -> None:
    assert timelines(SECOND.mpd)["0"] == Timeline(30000, 240240, (120120,) * 4)
    assert SECOND.timeline("0") == Timeline(30000, 360360, (120120,) * 3)


def test_ranges_that_tile_join_into_one_timeline() -> None:
    assert joined([FIRST, SECOND], "0") == Timeline(30000, 0, (120120,) * 6)


def test_a_gap_or_a_short_range_is_refused() -> None:
    late = RangeListing(chunk(3, 3, last=True), mpd(entry(363363, 120120, 2)))
    with pytest.raises(QcFailed, match="starts at 363363"):
        joined([FIRST, late], "0")
    short = RangeListing(chunk(0, 3), mpd(entry(0, 120120, 1)))
    with pytest.raises(QcFailed, match="has 2 segments, its chunk 3"):
        joined([short, SECOND], "0")
    with pytest.raises(QcFailed, match="no representation 7"):
        joined([FIRST, SECOND], "7")


def test_the_last_range_runs_to_the_end_whatever_its_count() -> None:
    longer = RangeListing(chunk(3, 2, last=True), mpd(entry(360360, 120120, 2)))
    assert len(joined([FIRST, longer], "0").durations) == 6


def test_landed_files_skip_the_warm_up_and_take_the_package_numbers() -> None:
    files = landed_files(SECOND, "0")
    assert [(f.local, f.final, f.number) for f in files] == [
        ("seg-0-00002.m4s", "seg-0-00004.m4s", 4),
        ("seg-0-00003.m4s", "seg-0-00005.m4s", 5),
        ("seg-0-00004.m4s", "seg-0-00006.m4s", 6),
    ]
    assert {f.ticks for f in files} == {240240}  # where that encode's tfdt 0 lies


def test_the_media_playlist_is_the_muxers() -> None:
    skeleton = '#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-MAP:URI="init-0.m4s"\n#EXTINF:4.0,\nx.m4s\n'
    timeline = Timeline(30000, 0, (120120, 120120, 239239, 60060))
    text = stitch_media(skeleton, "0", timeline)
    doc = m3u8.loads(text)
    assert [s.uri for s in doc.segments] == [f"seg-0-0000{n}.m4s" for n in range(1, 5)]
    assert [s.duration for s in doc.segments] == pytest.approx([4.004, 4.004, 7.974633, 2.002])
    assert doc.target_duration == 8
    assert doc.segment_map[0].uri == "init-0.m4s"
    assert doc.is_endlist
    assert "#EXTINF:7.974633," in text


def test_the_mpd_takes_the_ranges_timeline_and_codecs_and_keeps_the_rest() -> None:
    audio = entry(0, 189440) + entry(None, 192512)
    skeleton = mpd(entry(0, 120120, 5), audio, codecs="avc1.64000a")
    text = stitch_mpd(skeleton, [FIRST, SECOND], ["0"])
    video, sound = read_mpd(text)
    assert video.durations == (4.004,) * 6
    assert video.files[-1] == "seg-0-00006.m4s"
    assert sound.durations == pytest.approx((189440 / 48000, 192512 / 48000))
    assert 'codecs="avc1.64001f"' in text
    assert '\t\t\t\t\t<SegmentTimeline>\n\t\t\t\t\t\t<S t="0" d="120120" r="5"/>\n' in text


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def segment(tfdt: int, version: int = 1, ept: int = 0) -> bytes:
    times = struct.pack(">QQ" if version else ">II", ept, 0)
    sidx = box(b"sidx", bytes([version, 0, 0, 0]) + struct.pack(">II", 1, 30000) + times)
    when = struct.pack(">Q" if version else ">I", tfdt)
    traf = box(b"tfhd", b"\0" * 8) + box(b"tfdt", bytes([version, 0, 0, 0]) + when)
    moof = box(b"moof", box(b"mfhd", struct.pack(">II", 0, 1)) + box(b"traf", traf))
    return box(b"styp", b"msdh") + sidx + moof + box(b"mdat", b"\1\2\3")


def test_retime_moves_the_decode_time_the_index_and_the_sequence_number() -> None:
    moved = retime(segment(120120), 360360, 5)
    assert len(moved) == len(segment(120120))
    assert moved.endswith(b"mdat\1\2\3")
    assert struct.unpack(">Q", moved[moved.index(b"tfdt") + 8 :][:8])[0] == 480480
    sidx = moved.index(b"sidx")
    assert struct.unpack(">Q", moved[sidx + 16 : sidx + 24])[0] == 360360
    assert struct.unpack(">I", moved[moved.index(b"mfhd") + 8 :][:4])[0] == 5


def test_a_32_bit_time_that_would_overflow_or_a_broken_box_is_refused() -> None:
    assert retime(segment(10, version=0), 20, 2) != segment(10, version=0)
    with pytest.raises(ValueError, match="32-bit"):
        retime(segment(10, version=0), 2**32, 2)
    with pytest.raises(ValueError, match="overruns"):
        retime(segment(10)[:-2], 1, 1)


def test_the_master_takes_the_real_sizes_and_video_codecs() -> None:
    skeleton = (
        "#EXTM3U\n#EXT-X-VERSION:7\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_A1",NAME="audio_1",DEFAULT=YES,URI="media_1.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=932165,RESOLUTION=32x18,CODECS="avc1.64000a,mp4a.40.2",'
        'AUDIO="group_A1"\nmedia_0.m3u8\n'
    )
    first = RangeListing(
        chunk(0, 3), FIRST.mpd.replace('bandwidth="1"', 'width="640" height="360"')
    )
    doc = m3u8.loads(stitch_master(skeleton, first, ["0"]))
    (variant,) = doc.playlists
    assert variant.stream_info.resolution == (640, 360)
    assert variant.stream_info.codecs == "avc1.64001f,mp4a.40.2"
    assert [m.uri for m in doc.media] == ["media_1.m3u8"]


def test_a_resumed_range_continues_the_kept_segments_on_the_skeletons_grid() -> None:
    skeleton = mpd(entry(0, 120120, 5))
    resumed = RangeListing(chunk(3, 3, last=True), mpd(entry(360360, 120120, 2)))
    assert whole_timeline(skeleton, [resumed], "0") == Timeline(30000, 0, (120120,) * 6)
    off = RangeListing(chunk(3, 3, last=True), mpd(entry(361361, 120120, 2)))
    with pytest.raises(QcFailed, match="kept segments end at 360360"):
        whole_timeline(skeleton, [off], "0")
    text = stitch_mpd(skeleton, [resumed], ["0"])
    assert read_mpd(text)[0].durations == (4.004,) * 6
