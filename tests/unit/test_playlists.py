"""core.playlists over the real manifests ffmpeg 5.1 wrote: finishing the HLS playlists
(through the m3u8 library), measuring rates, reading the MPD, and refusing escaping URIs.

The fixtures are ffmpeg's raw output, copied verbatim: a ``dash`` muxer package with
``-hls_playlist 1`` (CMAF, 3 video rungs + 1 audio) and an ``hls`` muxer package (MPEG-TS,
a rotated portrait source)."""

from __future__ import annotations

import m3u8
import pytest

from core.playlists import (
    MediaPlaylist,
    finish_master,
    finish_media,
    measured_rate,
    read_master,
    read_media,
    read_mpd,
    resolve,
)

# master.m3u8, verbatim
CMAF_MASTER = """\
#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_A1",NAME="audio_3",DEFAULT=YES,URI="media_3.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=2932168,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="group_A1"
media_0.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=1532168,RESOLUTION=864x486,CODECS="avc1.64001f,mp4a.40.2",AUDIO="group_A1"
media_1.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=932168,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="group_A1"
media_2.m3u8

"""

# media_0.m3u8, verbatim
CMAF_MEDIA_0 = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="init-0.m4s"
#EXTINF:4.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T01:37:41.000+0000
seg-0-00001.m4s
#EXTINF:2.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T01:37:45.000+0000
seg-0-00002.m4s
#EXT-X-ENDLIST
"""

# media_3.m3u8, verbatim
CMAF_MEDIA_3 = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="init-3.m4s"
#EXTINF:3.946667,
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T01:37:41.000+0000
seg-3-00001.m4s
#EXTINF:2.053333,
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T01:37:44.947+0000
seg-3-00002.m4s
#EXT-X-ENDLIST
"""

# manifest.mpd, verbatim
CMAF_MPD = """\
<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
	xmlns="urn:mpeg:dash:schema:mpd:2011"
	xmlns:xlink="http://www.w3.org/1999/xlink"
	xsi:schemaLocation="urn:mpeg:DASH:schema:MPD:2011 http://standards.iso.org/ittf/PubliclyAvailableStandards/MPEG-DASH_schema_files/DASH-MPD.xsd"
	profiles="urn:mpeg:dash:profile:isoff-live:2011"
	type="static"
	mediaPresentationDuration="PT6.0S"
	maxSegmentDuration="PT4.0S"
	minBufferTime="PT8.0S">
	<ProgramInformation>
	</ProgramInformation>
	<ServiceDescription id="0">
	</ServiceDescription>
	<Period id="0" start="PT0.0S">
		<AdaptationSet id="0" contentType="video" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true" frameRate="30/1" maxWidth="1280" maxHeight="720" par="16:9">
			<Representation id="0" mimeType="video/mp4" codecs="avc1.64001f" bandwidth="2800000" width="1280" height="720" sar="1:1">
				<SegmentTemplate timescale="15360" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="61440" />
						<S d="30720" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
			<Representation id="1" mimeType="video/mp4" codecs="avc1.64001f" bandwidth="1400000" width="864" height="486" sar="1:1">
				<SegmentTemplate timescale="15360" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="61440" />
						<S d="30720" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
			<Representation id="2" mimeType="video/mp4" codecs="avc1.64001e" bandwidth="800000" width="640" height="360" sar="1:1">
				<SegmentTemplate timescale="15360" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="61440" />
						<S d="30720" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
		<AdaptationSet id="1" contentType="audio" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true">
			<Representation id="3" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="128000" audioSamplingRate="48000">
				<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2" />
				<SegmentTemplate timescale="48000" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="189440" />
						<S d="98560" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
	</Period>
</MPD>
"""  # noqa: E501

# master.m3u8, verbatim
TS_MASTER = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-STREAM-INF:BANDWIDTH=3220800,RESOLUTION=720x1280,CODECS="avc1.64001f,mp4a.40.2"
media_0.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=1680800,RESOLUTION=486x864,CODECS="avc1.64001f,mp4a.40.2"
media_1.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=1020800,RESOLUTION=360x640,CODECS="avc1.64001e,mp4a.40.2"
media_2.m3u8

"""

# media_0.m3u8, verbatim
TS_MEDIA_0 = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXTINF:6.000000,
seg-0-00000.ts
#EXT-X-ENDLIST
"""

# Sizes in bytes of the files of the CMAF fixture package, as ffmpeg wrote them.
CMAF_SIZES = {
    "init-0.m4s": 834,
    "seg-0-00001.m4s": 1_400_738,
    "seg-0-00002.m4s": 698_829,
    "init-3.m4s": 765,
    "seg-3-00001.m4s": 64_370,
    "seg-3-00002.m4s": 33_836,
}
RATES = {"media_0.m3u8": (3_100_000, 2_900_000), "media_1.m3u8": (1_600_000, 1_450_000)}


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
def test_finish_media_makes_a_vod_playlist_with_the_same_segments(raw: str, init: str | None):
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


def test_finish_master_sets_measured_rates_frame_rate_and_independent_segments():
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
    assert all(s.codecs.startswith("avc1.") for s in info.values())
    # The audio rendition group survives untouched.
    assert [(m.type, m.group_id, m.name, m.default, m.uri) for m in doc.media] == [
        ("AUDIO", "group_A1", "audio_3", "YES", "media_3.m3u8")
    ]
    assert "AVERAGE-BANDWIDTH=2900000" in finished
    assert "FRAME-RATE=30" in finished


def test_finish_master_rounds_the_frame_rate_and_reads_back():
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


def test_finish_master_without_fps_sets_no_frame_rate():
    assert "FRAME-RATE" not in finish_master(CMAF_MASTER, RATES, None)


@pytest.mark.parametrize("raw", [CMAF_MEDIA_0, CMAF_MEDIA_3, TS_MEDIA_0])
def test_finish_media_is_idempotent(raw: str):
    once = finish_media(raw)
    assert finish_media(once) == once


@pytest.mark.parametrize("raw", [CMAF_MASTER, TS_MASTER])
def test_finish_master_is_idempotent(raw: str):
    once = finish_master(raw, RATES, 29.97)
    assert finish_master(once, RATES, 29.97) == once


def test_measured_rate_peak_is_the_largest_segment_and_average_counts_init():
    video = read_media("media_0.m3u8", CMAF_MEDIA_0)
    peak, average = measured_rate(video, CMAF_SIZES)
    assert peak == 2_801_476  # ceil(max(8 * 1400738 / 4, 8 * 698829 / 2))
    assert average == 2_800_535  # ceil(8 * (834 + 1400738 + 698829) / 6)

    audio = read_media("media_3.m3u8", CMAF_MEDIA_3)
    assert measured_rate(audio, CMAF_SIZES) == (131_829, 131_962)


def test_measured_rate_synthetic():
    media = MediaPlaylist("m.m3u8", "init.mp4", (("a", 2.0), ("b", 1.0), ("c", 0.0)), 2)
    sizes = {"init.mp4": 1000, "a": 500, "b": 400, "c": 10_000}
    # Peak from the short segment; a zero-length segment is no rate but counts in the total.
    assert measured_rate(media, sizes) == (3200, 8 * 11_900 // 3 + 1)
    assert measured_rate(MediaPlaylist("m", None, (("a", 2.0),), 2), {}) == (0, 0)
    assert measured_rate(MediaPlaylist("m", None, (), 0), {"x": 1}) == (0, 0)


def test_read_master():
    master = read_master(CMAF_MASTER)
    assert [(v.uri, v.width, v.height, v.bandwidth, v.audio_group) for v in master.variants] == [
        ("media_0.m3u8", 1280, 720, 2_932_168, "group_A1"),
        ("media_1.m3u8", 864, 486, 1_532_168, "group_A1"),
        ("media_2.m3u8", 640, 360, 932_168, "group_A1"),
    ]
    assert master.audio == ("media_3.m3u8",)
    assert master.media_uris == ("media_0.m3u8", "media_1.m3u8", "media_2.m3u8", "media_3.m3u8")
    ts = read_master(TS_MASTER)
    assert ts.audio == ()
    assert all(v.audio_group is None for v in ts.variants)
    assert ts.media_uris == ("media_0.m3u8", "media_1.m3u8", "media_2.m3u8")


def test_read_media():
    cmaf = read_media("media_0.m3u8", CMAF_MEDIA_0)
    assert cmaf.init == "init-0.m4s"
    assert cmaf.segments == (("seg-0-00001.m4s", 4.0), ("seg-0-00002.m4s", 2.0))
    assert cmaf.target_duration == 4
    assert cmaf.files == ("init-0.m4s", "seg-0-00001.m4s", "seg-0-00002.m4s")
    # Fractional durations survive finishing exactly.
    audio = read_media("media_3.m3u8", finish_media(CMAF_MEDIA_3))
    assert audio.segments == (("seg-3-00001.m4s", 3.946667), ("seg-3-00002.m4s", 2.053333))
    assert audio.duration == pytest.approx(6.0)
    ts = read_media("media_0.m3u8", TS_MEDIA_0)
    assert (ts.init, ts.files, ts.duration, ts.target_duration) == (
        None,
        ("seg-0-00000.ts",),
        6.0,
        6,
    )


def test_read_mpd_of_ffmpeg():
    reps = read_mpd(CMAF_MPD)
    assert [(r.id, r.content_type, r.width, r.height) for r in reps] == [
        ("0", "video", 1280, 720),
        ("1", "video", 864, 486),
        ("2", "video", 640, 360),
        ("3", "audio", None, None),
    ]
    for rep in reps:
        n = rep.id
        assert rep.files == (f"init-{n}.m4s", f"seg-{n}-00001.m4s", f"seg-{n}-00002.m4s")
    assert [r.durations for r in reps[:3]] == [(4.0, 2.0)] * 3
    assert reps[3].durations == pytest.approx((189_440 / 48_000, 98_560 / 48_000))
    # The same segments as the HLS side.
    hls = read_media("media_3.m3u8", CMAF_MEDIA_3)
    assert reps[3].files == hls.files
    assert reps[3].durations == pytest.approx([s for _, s in hls.segments], abs=1e-6)


SYNTHETIC_MPD = """\
<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">
  <Period id="0">
    <AdaptationSet id="0">
      <SegmentTemplate timescale="90000" initialization="v$RepresentationID$.mp4"
          media="v$RepresentationID$/$Number$.m4s" startNumber="7">
        <SegmentTimeline>
          <S t="0" d="360000" r="2" />
          <S d="90000" />
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="hi" mimeType="video/mp4" width="1920" height="1080" />
      <Representation id="lo" mimeType="video/mp4" width="960" height="540" />
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio">
      <Representation id="7" mimeType="audio/mp4">
        <SegmentTemplate timescale="1000" initialization="a-$RepresentationID$-init.m4s"
            media="a-$RepresentationID$-$Number%03d$.m4s">
          <SegmentTimeline><S t="0" d="2500" r="1" /><S d="500" /></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""


def test_read_mpd_expands_repeats_templates_and_timescales():
    hi, lo, audio = read_mpd(SYNTHETIC_MPD)
    assert (hi.id, hi.content_type, hi.width, hi.height) == ("hi", "video", 1920, 1080)
    assert hi.durations == (4.0, 4.0, 4.0, 1.0)  # r="2": three segments of 360000/90000
    assert hi.files == ("vhi.mp4", "vhi/7.m4s", "vhi/8.m4s", "vhi/9.m4s", "vhi/10.m4s")
    assert lo.files[0] == "vlo.mp4"
    assert lo.files[-1] == "vlo/10.m4s"
    assert (audio.id, audio.content_type) == ("7", "audio")
    assert audio.durations == (2.5, 2.5, 0.5)
    assert audio.files == ("a-7-init.m4s", "a-7-001.m4s", "a-7-002.m4s", "a-7-003.m4s")


@pytest.mark.parametrize(
    ("base", "uri", "expected"),
    [
        ("media_0.m3u8", "seg-0-00001.m4s", "seg-0-00001.m4s"),
        ("media_0.m3u8", "sub/../init-0.m4s", "init-0.m4s"),
        ("v/media.m3u8", "../seg.ts", "seg.ts"),
        ("v/media.m3u8", "seg.ts", "v/seg.ts"),
    ],
)
def test_resolve_keeps_paths_inside_the_package(base: str, uri: str, expected: str):
    assert resolve(base, uri) == expected


@pytest.mark.parametrize(
    "uri",
    ["../x", "..", "a/../../x", "/abs", "/etc/passwd", "http://evil.example/x.ts", "s3://b/k"],
)
def test_resolve_refuses_references_leaving_the_package(uri: str):
    with pytest.raises(ValueError, match="leaves the package"):
        resolve("media_0.m3u8", uri)


def test_finish_master_names_the_audio_rendition_and_states_its_channels():
    finished = finish_master(CMAF_MASTER, RATES, 30.0, {"media_3.m3u8": ("aac-128k", 2)})
    (audio,) = m3u8.loads(finished).media
    assert audio.name == "aac-128k"
    assert audio.channels == "2"
    assert audio.group_id == "group_A1"
    assert 'CHANNELS="2"' in finished
