"""core.streaming.playlists reading packages: the HLS master and media playlists ffmpeg 5.1 wrote
(`ffmpeg_manifests`), its MPD and a synthetic one (repeats, templates, timescales), and
`resolve` refusing references that leave the package."""

from __future__ import annotations

import pytest

from core.streaming.playlists import (
    finish_media,
    read_master,
    read_media,
    read_mpd,
    resolve,
)
from tests.unit.ffmpeg_manifests import (
    CMAF_MASTER,
    CMAF_MEDIA_0,
    CMAF_MEDIA_3,
    CMAF_MPD,
    TS_MASTER,
    TS_MEDIA_0,
)


def test_read_master() -> None:
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


def test_read_media() -> None:
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


def test_read_mpd_of_ffmpeg() -> None:
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


def test_read_mpd_expands_repeats_templates_and_timescales() -> None:
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
def test_resolve_keeps_paths_inside_the_package(base: str, uri: str, expected: str) -> None:
    assert resolve(base, uri) == expected


@pytest.mark.parametrize(
    "uri",
    ["../x", "..", "a/../../x", "/abs", "/etc/passwd", "http://evil.example/x.ts", "s3://b/k"],
)
def test_resolve_refuses_references_leaving_the_package(uri: str) -> None:
    with pytest.raises(ValueError, match="leaves the package"):
        resolve("media_0.m3u8", uri)
