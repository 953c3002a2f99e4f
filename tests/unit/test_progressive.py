"""core.streaming.progressive: the growing manifests of a package published while it encodes,
checked with parsers that are not ours (``m3u8``, ``mpegdash``, ElementTree): EVENT playlists
without ENDLIST that grow segment by segment under a fixed target duration; ffmpeg's dynamic MPD
cut to the segments in the bucket, its timeline's durations those of the landed segments; the
failed markers leave both parseable."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import PurePosixPath

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from core.media.probe import AudioStream, ProbeResult, VideoStream
from core.presets import StreamingPreset, builtin_catalog
from core.streaming.progressive import (
    FAILED_NOTE,
    availability_start,
    event_playlist,
    failed_master,
    failed_mpd,
    growing_mpd,
    target_duration,
)
from core.streaming.progressive_sink import GrowingLayout
from core.streaming.renditions import plan_streaming
from core.streaming.segment_watch import LandedSegment

NS = "{urn:mpeg:dash:schema:mpd:2011}"
NOW = datetime(2026, 12, 7, 19, 20, 0, 250000, tzinfo=UTC)
# ffmpeg 5.1's dash muxer between two segments (a 360p and a 180p rung, one audio): dynamic,
# naming two segments of each video rung and two of the audio.
GROWING_MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns="urn:mpeg:dash:schema:mpd:2011"
  xmlns:xlink="http://www.w3.org/1999/xlink"
  xsi:schemaLocation="urn:mpeg:DASH:schema:MPD:2011 http://standards.iso.org/ittf/PubliclyAvailableStandards/MPEG-DASH_schema_files/DASH-MPD.xsd"
  profiles="urn:mpeg:dash:profile:isoff-live:2011"
  type="dynamic"
  minimumUpdatePeriod="PT4S"
  suggestedPresentationDelay="PT4S"
  availabilityStartTime="2026-12-07T19:19:02.062Z"
  publishTime="2026-12-07T19:19:09.942Z"
  maxSegmentDuration="PT8.0S"
  minBufferTime="PT8.0S">
  <ProgramInformation>
  </ProgramInformation>
  <ServiceDescription id="0">
  </ServiceDescription>
  <Period id="0" start="PT0.0S">
    <AdaptationSet id="0" contentType="video" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true" frameRate="30/1" maxWidth="640" maxHeight="360" par="16:9" lang="und">
      <Representation id="0" mimeType="video/mp4" codecs="avc1.64001e" bandwidth="766554" width="640" height="360" sar="1:1">
        <SegmentTemplate timescale="15360" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
          <SegmentTimeline>
            <S t="0" d="61440" r="1" />
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
      <Representation id="1" mimeType="video/mp4" codecs="avc1.64000d" bandwidth="167832" width="320" height="180" sar="1:1">
        <SegmentTemplate timescale="15360" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
          <SegmentTimeline>
            <S t="0" d="61440" r="1" />
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true" lang="und">
      <Representation id="2" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="69000" audioSamplingRate="48000">
        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="1" />
        <SegmentTemplate timescale="48000" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
          <SegmentTimeline>
            <S t="0" d="189440" />
            <S d="191488" />
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""  # noqa: E501
MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_A1",NAME="audio_2",DEFAULT=YES,URI="media_2.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=839722,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="group_A1"
media_0.m3u8
"""


def landed(rep: int, durations: list[float]) -> list[LandedSegment]:
    found, start = [], 0.0
    for index, seconds in enumerate(durations):
        path = f"cmaf/seg-{rep}-{index + 1:05d}.m4s"
        found.append(LandedSegment(f"cmaf/media_{rep}.m3u8", path, f"cmaf/init-{rep}.m4s",
                                   index, start, seconds, 1000))  # fmt: skip
        start += seconds
    return found


def test_an_event_playlist_grows_and_never_ends() -> None:
    segments = landed(0, [4.0, 4.0, 4.0])
    counts = []
    for n in (1, 2, 3):
        text = event_playlist("cmaf/media_0.m3u8", segments[:n], 4, 1)
        doc = m3u8.loads(text)
        assert doc.playlist_type == "event"
        assert not doc.is_endlist
        assert doc.target_duration == 4
        assert doc.media_sequence == 1
        assert doc.is_independent_segments
        assert [m.uri for m in doc.segment_map] == ["init-0.m4s"]
        assert [s.uri for s in doc.segments] == [f"seg-0-{i:05d}.m4s" for i in range(1, n + 1)]
        assert sum(s.duration or 0.0 for s in doc.segments) == pytest.approx(4.0 * n)
        counts.append(len(doc.segments))
    assert counts == [1, 2, 3]


def test_a_transport_stream_playlist_has_no_map() -> None:
    ts = LandedSegment("hls/media_0.m3u8", "hls/seg-0-00000.ts", None, 0, 0.0, 6.006, 10)
    doc = m3u8.loads(event_playlist("hls/media_0.m3u8", [ts], 7, 0))
    assert not doc.segment_map
    assert doc.media_sequence == 0
    assert [s.uri for s in doc.segments] == ["seg-0-00000.ts"]


@pytest.mark.parametrize(
    ("seconds", "durations", "target"),
    [(4.0, [], 4), (4.0, [4.0, 4.02], 4), (6.0, [6.006], 6), (2.5, [2.5], 3), (4.0, [5.6], 6)],
)
def test_the_target_duration_is_the_segment_length_rounded_up(
    seconds: float, durations: list[float], target: int
) -> None:
    assert target_duration(seconds, landed(0, durations)) == target


def timeline_seconds(rep: ET.Element) -> list[float]:
    template = rep.find(f"{NS}SegmentTemplate")
    assert template is not None
    scale = int(template.get("timescale", "1"))
    out, timeline = [], template.find(f"{NS}SegmentTimeline")
    assert timeline is not None
    for s in timeline:
        out += [int(s.get("d", "0")) / scale] * (int(s.get("r", "0")) + 1)
    return out


def test_the_mpd_names_only_the_segments_in_the_bucket() -> None:
    uploaded = {s.path for s in landed(0, [4.0, 4.0]) + landed(1, [4.0]) + landed(2, [3.947])}

    text = growing_mpd(GROWING_MPD, "cmaf/manifest.mpd", uploaded, NOW)

    root = ET.fromstring(text)
    assert root.get("type") == "dynamic"
    assert root.get("publishTime") == "2026-12-07T19:20:00.250Z"
    assert root.get("availabilityStartTime") == "2026-12-07T19:19:02.062Z"  # ffmpeg's: kept
    assert root.get("minimumUpdatePeriod")
    assert root.get("mediaPresentationDuration") is None
    sets = list(root.iter(f"{NS}AdaptationSet"))
    assert sets[0].get("bitstreamSwitching") is None  # two video rungs, two inits
    assert sets[1].get("bitstreamSwitching") == "true"  # one audio: as ffmpeg said
    reps = {r.get("id"): r for r in root.iter(f"{NS}Representation")}
    assert timeline_seconds(reps["0"]) == [4.0, 4.0]
    assert timeline_seconds(reps["1"]) == [4.0]
    assert sum(timeline_seconds(reps["2"])) == pytest.approx(3.947, abs=0.001)
    # what dash.js reads to follow it: a live profile, a period start, the template
    mpd = MPEGDASHParser.parse(text)
    assert mpd.type == "dynamic"
    assert "isoff-live" in mpd.profiles
    assert mpd.periods[0].start is not None
    for aset in mpd.periods[0].adaptation_sets:
        for rep in aset.representations:
            assert rep.segment_templates[0].segment_timelines[0].Ss


def test_the_timeline_grows_to_the_landed_durations() -> None:
    sums = []
    for n in (1, 2):
        uploaded = {s.path for rep in (0, 1, 2) for s in landed(rep, [4.0] * n)}
        root = ET.fromstring(growing_mpd(GROWING_MPD, "cmaf/manifest.mpd", uploaded, NOW))
        sums.append([sum(timeline_seconds(r)) for r in root.iter(f"{NS}Representation")])
    assert sums[0][:2] == [4.0, 4.0]
    assert sums[1][:2] == [8.0, 8.0]
    assert sums[1][2] == pytest.approx(3.947 + 3.989, abs=0.001)  # the audio's own lengths


def test_a_static_mpd_is_made_dynamic() -> None:
    static = (
        GROWING_MPD.replace('type="dynamic"', 'type="static"')
        .replace('minimumUpdatePeriod="PT4S"', 'mediaPresentationDuration="PT8.0S"')
        .replace('availabilityStartTime="2026-12-07T19:19:02.062Z"', "")
    )
    uploaded = {s.path for rep in (0, 1, 2) for s in landed(rep, [4.0])}
    root = ET.fromstring(growing_mpd(static, "cmaf/manifest.mpd", uploaded, NOW))
    assert root.get("type") == "dynamic"
    assert root.get("mediaPresentationDuration") is None
    assert root.get("minimumUpdatePeriod")
    assert root.get("availabilityStartTime") == "2026-12-07T19:20:00.250Z"  # none: now
    kept = growing_mpd(static, "cmaf/manifest.mpd", uploaded, NOW, "2026-12-07T19:19:02.062Z")
    assert ET.fromstring(kept).get("availabilityStartTime") == "2026-12-07T19:19:02.062Z"
    assert availability_start(static) is None
    assert availability_start(GROWING_MPD) == "2026-12-07T19:19:02.062Z"


def test_a_failed_package_says_so_and_still_parses() -> None:
    master = failed_master(MASTER)
    assert FAILED_NOTE in master
    assert [p.uri for p in m3u8.loads(master).playlists] == ["media_0.m3u8"]
    mpd = failed_mpd(GROWING_MPD)
    assert FAILED_NOTE in mpd
    assert ET.fromstring(mpd).get("type") == "dynamic"


def test_the_layout_is_where_the_plan_puts_the_manifests() -> None:
    video = VideoStream(codec="h264", width=640, height=360, fps=25.0, rotation=0,
                        sample_aspect=Fraction(1), pix_fmt="yuv420p", duration=12.0)  # fmt: skip
    audio = AudioStream(codec="aac", channels=2, sample_rate=48000, index=1)
    probe = ProbeResult(format_name="mov", duration=12.0, size=1, video=video, audio=audio)
    for name in ("web-hls", "hls-ts", "audio-only"):
        preset = builtin_catalog().presets[name]
        assert isinstance(preset, StreamingPreset)
        plan = plan_streaming(preset, probe, PurePosixPath("/w/in/s"), PurePosixPath("/w/out"))
        layout = GrowingLayout.of(preset)
        assert (layout.master, layout.mpd) == (plan.master, plan.mpd), name
        assert layout.segment_seconds == plan.segment_seconds
