"""The pure parts of subtitle tracks: cues read from ffmpeg's WebVTT, escaped, cut into the
package's segments, the playlists and manifests that name them, the ASS script a burn
draws from, and the step's rules."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

import m3u8
import pytest
from pydantic import ValidationError

from core.errors import InvalidMedia
from core.media.probe_doc import probe_doc
from core.models import JobRequest
from core.text.subtitle_files import plain_webvtt, safe_ass, subtitle_probe
from core.text.subtitle_manifests import (
    InBandCaption,
    SidecarTrack,
    master_with_captions,
    master_with_subtitles,
    mpd_with_captions,
    mpd_with_subtitles,
)
from core.text.subtitles import (
    MAX_CUES,
    Cue,
    clipped,
    escape_text,
    parse_vtt,
    segment_cues,
    shifted,
    subtitle_playlist,
    timestamp,
    vtt_document,
)

_DASH = "{urn:mpeg:dash:schema:mpd:2011}"
FFMPEG_VTT = """WEBVTT

00:00.500 --> 00:01.500
first <b>bold</b> & <i>it</i>

01:02.000 --> 01:03.250
a --> b
second line

1:00:00.000 --> 1:00:01.000
an hour in
"""


def test_ffmpegs_webvtt_reads_as_cues_with_escaped_text() -> None:
    cues = parse_vtt(FFMPEG_VTT)
    assert cues == (
        Cue(0.5, 1.5, "first <b>bold</b> &amp; <i>it</i>"),
        Cue(62.0, 63.25, "a --&gt; b\nsecond line"),
        Cue(3600.0, 3601.0, "an hour in"),
    )


@pytest.mark.parametrize(
    ("line", "escaped"),
    [
        ("<script>x</script>", "&lt;script&gt;x&lt;/script&gt;"),
        ("<c.red>x</c>", "&lt;c.red&gt;x&lt;/c&gt;"),
        ("<u>kept</u> &amp;", "<u>kept</u> &amp;amp;"),
        ("<b class=x>", "&lt;b class=x&gt;"),
    ],
)
def test_only_bold_italic_and_underline_stay_markup(line: str, escaped: str) -> None:
    assert escape_text(line) == escaped


def test_a_line_outside_any_cue_joins_the_one_before() -> None:
    text = "WEBVTT\n\n00:01.000 --> 00:02.000\nfirst\n\nafter a blank line\n"
    assert parse_vtt(text) == (Cue(1.0, 2.0, "first\nafter a blank line"),)


def test_empty_and_backwards_cues_are_dropped() -> None:
    text = "WEBVTT\n\n00:02.000 --> 00:01.000\nbackwards\n\n00:03.000 --> 00:04.000\n \n"
    assert parse_vtt(text) == ()


def test_too_many_cues_are_refused() -> None:
    one = "00:00.000 --> 00:00.001\nx\n\n"
    with pytest.raises(InvalidMedia, match="cues"):
        parse_vtt("WEBVTT\n\n" + one * (MAX_CUES + 1))


def test_a_cue_over_a_boundary_is_in_both_segments() -> None:
    cues = (Cue(0.5, 1.0, "a"), Cue(3.5, 4.5, "b"), Cue(9.0, 9.5, "c"))
    segments = segment_cues(cues, [4.0, 4.0, 2.0], "eng")
    assert [s.name for s in segments] == ["eng.00001.vtt", "eng.00002.vtt", "eng.00003.vtt"]
    assert [[c.text for c in s.cues] for s in segments] == [["a", "b"], ["b"], ["c"]]
    assert [(s.start, s.duration) for s in segments] == [(0.0, 4.0), (4.0, 4.0), (8.0, 2.0)]


def test_a_trim_moves_the_cues_by_its_start() -> None:
    cues = (Cue(0.5, 1.0, "gone"), Cue(1.5, 3.0, "spans"), Cue(4.0, 5.0, "later"))
    assert shifted(cues, 2.0) == (Cue(0.0, 1.0, "spans"), Cue(2.0, 3.0, "later"))
    assert shifted(cues, 0.0) == cues


def test_cues_past_the_media_are_cut_at_its_end() -> None:
    cues = (Cue(1.0, 30.0, "long"), Cue(40.0, 41.0, "after"))
    assert clipped(cues, 10.0) == (Cue(1.0, 10.0, "long"),)


def test_a_segment_names_the_media_start() -> None:
    doc = vtt_document([Cue(1.0, 2.5, "x")], mpegts=126000)
    assert doc == (
        "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n\n"
        "00:00:01.000 --> 00:00:02.500\nx\n"
    )
    assert timestamp(3723.4567) == "01:02:03.457"


def test_the_track_playlist_is_vod_with_every_segment() -> None:
    segments = segment_cues((), [4.0, 4.0, 1.5], "fra")
    playlist = m3u8.loads(subtitle_playlist(segments))
    assert playlist.playlist_type == "vod"
    assert playlist.is_endlist
    assert playlist.target_duration == 4
    assert [s.uri for s in playlist.segments] == [s.name for s in segments]
    assert [s.duration for s in playlist.segments] == [4.0, 4.0, 1.5]


MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_A1",NAME="aac",DEFAULT=YES,URI="media_2.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=640x360,AUDIO="group_A1"
media_0.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=500,RESOLUTION=320x180,AUDIO="group_A1"
media_1.m3u8
"""
TRACKS = (
    SidecarTrack("eng", "subtitles/eng.m3u8", "subtitles/eng.vtt"),
    SidecarTrack("pt-BR", "subtitles/pt-BR.m3u8", "subtitles/pt-BR.vtt"),
)


def test_the_master_gets_a_subtitles_group_on_every_variant() -> None:
    doc = m3u8.loads(master_with_subtitles(MASTER, TRACKS))
    subs = [m for m in doc.media if m.type == "SUBTITLES"]
    assert [(m.language, m.uri, m.group_id) for m in subs] == [
        ("eng", "subtitles/eng.m3u8", "subs"),
        ("pt-BR", "subtitles/pt-BR.m3u8", "subs"),
    ]
    assert all(m.default == "NO" and m.autoselect == "YES" for m in subs)
    assert [p.stream_info.subtitles for p in doc.playlists] == ["subs", "subs"]
    assert [p.stream_info.audio for p in doc.playlists] == ["group_A1", "group_A1"]
    assert "CLOSED-CAPTIONS" not in master_with_subtitles(MASTER, TRACKS)


MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">
<Period id="0" start="PT0.0S">
<AdaptationSet id="0" contentType="video"><Representation id="0" bandwidth="1"/></AdaptationSet>
<AdaptationSet id="1" contentType="audio"><Representation id="1" bandwidth="1"/></AdaptationSet>
</Period>
</MPD>
"""


def test_the_mpd_gets_a_text_set_per_track() -> None:
    root = ET.fromstring(mpd_with_subtitles(MPD, TRACKS))
    sets = list(root.iter(f"{_DASH}AdaptationSet"))
    assert [a.get("id") for a in sets] == ["0", "1", "2", "3"]
    texts = [a for a in sets if a.get("contentType") == "text"]
    assert [(a.get("lang"), a.get("mimeType")) for a in texts] == [
        ("eng", "text/vtt"),
        ("pt-BR", "text/vtt"),
    ]
    bases = [a.findtext(f"{_DASH}Representation/{_DASH}BaseURL") for a in texts]
    assert bases == ["subtitles/eng.vtt", "subtitles/pt-BR.vtt"]
    reps = [a.find(f"{_DASH}Representation") for a in texts]
    assert all(r is not None and r.get("bandwidth") for r in reps)


ASS = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize
Style: Default,Arial,20

[Events]
Format: Layer, Start, End, Style, Text
Dialogue: 0,0:00:00.00,0:00:01.00,Default,{\\fn/etc/passwd}hello

[Fonts]
fontname: evil.ttf
M1234567890

[Graphics]
filename: x.png
M1234567890
"""


def test_an_ass_script_keeps_only_what_libass_draws_from() -> None:
    kept = safe_ass(ASS)
    assert "[Fonts]" not in kept
    assert "evil.ttf" not in kept
    assert "[Graphics]" not in kept
    assert "Dialogue: 0,0:00:00.00,0:00:01.00,Default,{\\fn/etc/passwd}hello" in kept
    assert "Style: Default,Arial,20" in kept


@pytest.mark.parametrize("tag", ["{\\p1}", "{\\p4}", "{\\bord2\\p 1}"])
def test_a_vector_drawing_is_refused(tag: str) -> None:
    drawing = ASS.replace("}hello", "}hello" + tag + "m 0 0 l 10 10 10 0")
    with pytest.raises(InvalidMedia, match="drawing"):
        safe_ass(drawing)


def _request(*steps: Mapping[str, object]) -> JobRequest:
    return JobRequest.model_validate(
        {
            "version": 2,
            "input": {"bucket": "ffapi-input", "key": "a.mp4"},
            "steps": list(steps),
            "output": {"bucket": "ffapi-output", "prefix": "o"},
        }
    )


ENCODE = {"op": "encode", "preset": "web-hls"}
EN = {"op": "subtitles", "source": {"key": "subs/en.srt"}, "language": "eng"}


def test_the_step_and_its_object_are_read() -> None:
    request = _request(
        EN, {"op": "subtitles", "stream": 1, "language": "fra", "mode": "burn"}, ENCODE
    )
    assert [w for w, _ in request.step_objects()] == ["steps[0].source"]


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ({"op": "subtitles", "language": "eng"}, "give one of source, stream or captions"),
        ({**EN, "stream": 0}, "give one of source, stream or captions"),
        ({**EN, "language": "english please"}, "steps.0.subtitles.language"),
        ({**EN, "mode": "karaoke"}, "steps.0.subtitles.mode"),
        ({**EN, "stream": 32, "source": None}, "steps.0.subtitles.stream"),
        ({**EN, "fontsdir": "/etc"}, "steps.0.subtitles.fontsdir"),
    ],
)
def test_a_bad_step_is_refused(step: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        _request(step, ENCODE)


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        (
            (EN, {**EN, "source": {"key": "b.srt"}}, ENCODE),
            r"steps\[1\] \(subtitles\).language: a second sidecar track",
        ),
        (
            (EN, {"op": "encode", "preset": "mp4-480p"}, ENCODE, EN),
            r"steps\[3\] \(subtitles\): transforms come before",
        ),
        (
            ({"op": "speed", "factor": 2.0}, EN, ENCODE),
            r"steps\[1\] \(subtitles\).mode: .*steps\[0\]",
        ),
        (
            ({"op": "trim", "start": 1.0, "mode": "keyframe"}, EN, ENCODE),
            r"steps\[1\] \(subtitles\).mode: .*steps\[0\]",
        ),
        ((EN, {"op": "frames", "count": 1}), r"steps\[0\] \(subtitles\): a sidecar track goes"),
    ],
)
def test_a_bad_list_is_refused(steps: tuple[dict[str, object], ...], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        _request(*steps)


def test_a_sidecar_may_follow_an_accurate_trim() -> None:
    assert _request({"op": "trim", "start": 1.0}, EN, ENCODE).steps is not None


def test_a_burnt_track_may_follow_a_trim() -> None:
    burn = {**EN, "mode": "burn"}
    request = _request({"op": "trim", "start": 1.0}, burn, {"op": "encode", "preset": "mp4-480p"})
    assert request.steps is not None


def test_a_webvtt_loses_its_style_region_and_note_blocks_only() -> None:
    text = (
        "WEBVTT\r\n\r\nSTYLE\r\n::cue { background: url(x) }\r\n\r\nREGION\r\nid:r\r\n\r\n"
        "NOTE hi\r\n\r\n00:01.000 --> 00:02.000\r\nkept\r\n"
    )
    assert plain_webvtt(text) == "WEBVTT\n\n00:01.000 --> 00:02.000\nkept\n"


@pytest.mark.parametrize(
    "streams",
    [
        [],
        [{"codec_type": "video", "codec_name": "png"}],
        [{"codec_type": "subtitle", "codec_name": "dvd_subtitle"}],
        [{"codec_type": "subtitle", "codec_name": "subrip"}] * 2,
    ],
)
def test_only_one_text_subtitle_stream_is_a_subtitle_file(streams: list[dict[str, str]]) -> None:
    with pytest.raises(InvalidMedia, match="not a subtitle file"):
        subtitle_probe(probe_doc({"format": {"format_name": "srt"}, "streams": streams}))


def test_a_subtitle_file_probes_as_its_one_stream() -> None:
    doc = {
        "format": {"format_name": "ass", "size": "120"},
        "streams": [{"codec_type": "subtitle", "codec_name": "ass"}],
    }
    probe = subtitle_probe(probe_doc(doc))
    assert (probe.format_name, probe.size, probe.video, probe.audio) == ("ass", 120, None, None)
    assert [(s.kind, s.codec) for s in probe.streams] == [("subtitle", "ass")]


CC1 = InBandCaption("cea-608", 1, "eng")


def test_captions_in_the_video_are_declared_on_every_variant() -> None:
    text = master_with_captions(MASTER, [CC1])
    doc = m3u8.loads(text)
    (cc,) = [m for m in doc.media if m.type == "CLOSED-CAPTIONS"]
    assert (cc.group_id, cc.instream_id, cc.language, cc.uri) == ("cc", "CC1", "eng", None)
    assert text.count('CLOSED-CAPTIONS="cc"') == len(doc.playlists) == 2


def test_captions_in_the_video_are_an_accessibility_mark_in_dash() -> None:
    root = ET.fromstring(mpd_with_captions(MPD, [CC1]))
    marks = {
        a.get("contentType"): a.find(f"{_DASH}Accessibility")
        for a in root.iter(f"{_DASH}AdaptationSet")
    }
    assert marks["audio"] is None
    video = marks["video"]
    assert video is not None
    assert (video.get("schemeIdUri"), video.get("value")) == (
        "urn:scte:dash:cc:cea-608:2015",
        "CC1=eng",
    )


def test_captions_are_a_sidecar_only() -> None:
    with pytest.raises(ValidationError, match="sidecar only"):
        _request(
            {"op": "subtitles", "captions": "cea-608", "language": "eng", "mode": "burn"}, ENCODE
        )
    captions = {"op": "subtitles", "captions": "cea-608", "language": "eng"}
    assert _request(captions, ENCODE).step_objects() == ()
