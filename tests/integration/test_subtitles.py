"""Subtitles steps through the real pipeline: sidecar tracks in the package's manifests and
segments, read back with the ``m3u8`` library and an XML parser; a burnt track in the
decoded picture; refusals naming the step and field."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import m3u8
import pytest

from tests.hls_entries import language_of, seconds_of, uri_of
from tests.integration.steps_job import StepsOutcome, frame_rgb, make, run_steps
from tests.step_docs import StepDocs

pytestmark = pytest.mark.integration

_DASH = "{urn:mpeg:dash:schema:mpd:2011}"
ENGLISH_SRT = """1
00:00:00,500 --> 00:00:01,500
Hello & 1 < 2 --> 3 > 2

2
00:00:03,500 --> 00:00:04,500
Across the boundary

3
00:00:06,000 --> 00:00:07,000
Last words
"""
FRENCH_VTT = """WEBVTT

STYLE
::cue { color: yellow }

NOTE a comment

00:00:01.000 --> 00:00:02.000
Bonjour

00:00:05.000 --> 00:00:05.800
Au revoir
"""
STYLED_ASS = """[Script Info]
ScriptType: v4.00+
PlayResX: 320
PlayResY: 240

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, \
Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Big,DejaVu Sans,48,&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,1,0,0,0,100,100,0,0,\
1,2,0,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:02.50,Big,,0,0,0,,WWWWWW
"""
_TIMING = re.compile(r"^(\d{2}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2}):(\d{2}):(\d{2})\.(\d{3})")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of 320x240 with sound, a keyframe every second."""
    return make(
        tmp_path_factory.mktemp("clip"), "clip.mp4",
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=8",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=8",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
        "-c:a", "aac",
    )  # fmt: skip


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sidecars(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> StepsOutcome:
    tmp = tmp_path_factory.mktemp("sidecars")
    files = {
        "subs/talk.en.srt": _write(tmp, "talk.en.srt", ENGLISH_SRT),
        "subs/talk.fr.vtt": _write(tmp, "talk.fr.vtt", FRENCH_VTT),
    }
    steps: StepDocs = [
        {"op": "subtitles", "source": {"key": "subs/talk.en.srt"}, "language": "eng"},
        {
            "op": "subtitles",
            "source": {"key": "subs/talk.fr.vtt"},
            "language": "fra",
            "mode": "sidecar",
        },
        {"op": "encode", "preset": "web-hls"},
    ]
    return run_steps(clip, tmp, steps, files)


def _cues(text: str) -> list[tuple[float, float, str]]:
    cues = []
    for block in text.split("\n\n"):
        lines = block.strip().split("\n")
        match = _TIMING.match(lines[0]) if lines else None
        if match:
            g = [int(x) for x in match.groups()]
            start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
            end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
            cues.append((start, end, "\n".join(lines[1:])))
    return cues


def test_the_master_names_both_languages_on_every_variant(sidecars: StepsOutcome) -> None:
    assert sidecars.error is None, sidecars.error
    package = sidecars.out / "encode" / "cmaf"
    master = m3u8.load(str(package / "master.m3u8"))
    subs = [m for m in master.media if m.type == "SUBTITLES"]
    assert sorted(language_of(m) for m in subs) == ["eng", "fra"]
    assert {m.group_id for m in subs} == {"subs"}
    assert all(m.autoselect == "YES" and m.uri for m in subs)
    assert master.playlists
    assert all(p.stream_info.subtitles == "subs" for p in master.playlists)
    text = (package / "master.m3u8").read_text()
    assert "CLOSED-CAPTIONS" not in text  # the clip has none, and nothing claims any


def test_each_segment_holds_the_cues_of_its_range(sidecars: StepsOutcome) -> None:
    package = sidecars.out / "encode" / "cmaf"
    master = m3u8.load(str(package / "master.m3u8"))
    video = m3u8.load(str(package / uri_of(master.playlists[0])))
    english = next(m for m in master.media if m.language == "eng")
    track = m3u8.load(str(package / uri_of(english)))
    assert len(track.segments) == len(video.segments)
    start, seen = 0.0, set()
    for seg in track.segments:
        body = (package / "subtitles" / uri_of(seg)).read_text()
        assert body.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:")
        for cue_start, cue_end, words in _cues(body):
            assert cue_start < start + seconds_of(seg), (seg.uri, cue_start)
            assert cue_end > start, (seg.uri, cue_end)
            seen.add((cue_start, cue_end, words))
        start += seconds_of(seg)
    assert seen == {
        (0.5, 1.5, "Hello &amp; 1 &lt; 2 --&gt; 3 &gt; 2"),
        (3.5, 4.5, "Across the boundary"),
        (6.0, 7.0, "Last words"),
    }


def test_a_cue_over_a_boundary_is_in_both_segments(sidecars: StepsOutcome) -> None:
    track = sidecars.out / "encode" / "cmaf" / "subtitles"
    playlist = m3u8.load(str(track / "eng.m3u8"))
    holding = [
        s.uri for s in playlist.segments if "Across the boundary" in (track / uri_of(s)).read_text()
    ]
    # web-hls cuts 4 s segments: the cue from 3.5 s to 4.5 s is in the first two
    assert len(holding) == 2, holding


def test_the_mpd_has_a_text_set_per_language(sidecars: StepsOutcome) -> None:
    package = sidecars.out / "encode" / "cmaf"
    root = ET.parse(package / "manifest.mpd").getroot()
    texts = [a for a in root.iter(f"{_DASH}AdaptationSet") if a.get("contentType") == "text"]
    assert sorted(a.get("lang", "") for a in texts) == ["eng", "fra"]
    for aset in texts:
        assert aset.get("mimeType") == "text/vtt"
        base = aset.find(f"{_DASH}Representation/{_DASH}BaseURL")
        assert base is not None
        assert base.text
        whole = (package / base.text).read_text()
        assert whole.startswith("WEBVTT")
        assert len(_cues(whole)) == (3 if aset.get("lang") == "eng" else 2)


def test_the_tracks_are_published_and_listed(sidecars: StepsOutcome) -> None:
    keys = set(sidecars.published)
    assert any(k.endswith("encode/cmaf/subtitles/eng.vtt") for k in keys)
    assert any(k.endswith("encode/cmaf/subtitles/fra.m3u8") for k in keys)
    assert any(k.endswith("encode/cmaf/subtitles/eng.00001.vtt") for k in keys)
    roles = {o.role for o in sidecars.files("encode")}
    assert "subtitles" in roles


def test_a_burnt_track_is_drawn_only_during_its_cue(clip: Path, tmp_path: Path) -> None:
    styled = _write(tmp_path, "styled.ass", STYLED_ASS)
    steps: StepDocs = [
        {
            "op": "subtitles",
            "source": {"key": "subs/styled.ass"},
            "language": "eng",
            "mode": "burn",
        },
        {"op": "encode", "preset": "mp4-480p"},
    ]
    burnt = run_steps(clip, tmp_path / "burnt", steps, {"subs/styled.ass": styled})
    assert burnt.error is None, burnt.error
    plain = run_steps(clip, tmp_path / "plain", [{"op": "encode", "preset": "mp4-480p"}])
    assert plain.error is None, plain.error
    with_subs = burnt.out / "encode" / "video.mp4"
    without = plain.out / "encode" / "video.mp4"

    def bottom_difference(at: float) -> int:
        a, b = frame_rgb(with_subs, at, 320, 240), frame_rgb(without, at, 320, 240)
        rows = slice(3 * 320 * 170, 3 * 320 * 235)  # the bottom band, where the style puts it
        return sum(1 for x, y in zip(a[rows], b[rows], strict=True) if abs(x - y) > 60)

    assert bottom_difference(1.8) > 2000  # the cue shows from 1 s to 2.5 s
    assert bottom_difference(4.0) < 200


def test_refusals_name_the_step_and_field(clip: Path, tmp_path: Path) -> None:
    picture = make(
        tmp_path, "not-subs.png", "-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1"
    )
    steps: StepDocs = [
        {"op": "subtitles", "source": {"key": "subs/x.srt"}, "language": "eng"},
        {"op": "encode", "preset": "web-hls"},
    ]
    refused = run_steps(clip, tmp_path / "png", steps, {"subs/x.srt": picture})
    assert refused.error is not None
    assert str(refused.error).startswith("steps[0].source:"), refused.error
    stream: StepDocs = [
        {"op": "subtitles", "stream": 0, "language": "eng"},
        {"op": "encode", "preset": "web-hls"},
    ]
    missing = run_steps(clip, tmp_path / "stream", stream)
    assert missing.error is not None
    assert "steps[0].stream: the input has 0 subtitle streams" in str(missing.error)
    mp4_only: StepDocs = [
        {"op": "subtitles", "source": {"key": "subs/x.srt"}, "language": "eng"},
        {"op": "encode", "preset": "mp4-480p"},
    ]
    srt = _write(tmp_path, "x.srt", ENGLISH_SRT)
    nowhere = run_steps(clip, tmp_path / "mp4", mp4_only, {"subs/x.srt": srt})
    assert nowhere.error is not None
    assert "steps[0] (subtitles): a sidecar track goes into a streaming package" in str(
        nowhere.error
    )


def _first_video_pts(segment: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
         "-of", "csv=p=0", str(segment)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return min(float(line.strip(",")) for line in out.split() if line.strip(","))


def test_an_input_stream_in_mpeg_ts_segments_maps_to_the_media_start(
    clip: Path, tmp_path: Path
) -> None:
    """A text subtitle stream of the input (Matroska with SRT) as the sidecar of an hls-ts
    package: its segments' X-TIMESTAMP-MAP names the first video PTS, which MPEG-TS does
    not start at 0."""
    srt = _write(tmp_path, "in.srt", ENGLISH_SRT)
    mkv = make(tmp_path, "with-subs.mkv", "-i", str(clip), "-i", str(srt), "-map", "0",
               "-map", "1", "-c", "copy", "-c:s", "srt")  # fmt: skip
    steps: StepDocs = [
        {"op": "subtitles", "stream": 0, "language": "en"},
        {"op": "encode", "preset": "hls-ts"},
    ]
    done = run_steps(mkv, tmp_path / "job", steps)
    assert done.error is None, done.error
    package = done.out / "encode"
    master_path = next(package.rglob("master.m3u8"))
    master = m3u8.load(str(master_path))
    (track,) = [m for m in master.media if m.type == "SUBTITLES"]
    assert track.language == "en"
    video = m3u8.load(str(master_path.parent / uri_of(master.playlists[0])))
    first = (
        master_path.parent / Path(uri_of(master.playlists[0])).parent / uri_of(video.segments[0])
    )
    expected = round(_first_video_pts(first) * 90000)
    assert expected > 0  # the muxer's offset: a map of 0 would be wrong here
    playlist = m3u8.load(str(master_path.parent / uri_of(track)))
    segment = (master_path.parent / uri_of(track)).parent / uri_of(playlist.segments[0])
    assert segment.read_text().split("\n")[1] == (
        f"X-TIMESTAMP-MAP=MPEGTS:{expected},LOCAL:00:00:00.000"
    )
    assert _cues(segment.read_text())[0][2].startswith("Hello")


def test_a_trim_moves_the_sidecar_cues_by_its_start(clip: Path, tmp_path: Path) -> None:
    srt = _write(tmp_path, "en.srt", ENGLISH_SRT)
    steps: StepDocs = [
        {"op": "trim", "start": 2.0, "end": 7.5},
        {"op": "subtitles", "source": {"key": "subs/en.srt"}, "language": "eng"},
        {"op": "encode", "preset": "web-hls"},
    ]
    done = run_steps(clip, tmp_path / "job", steps, {"subs/en.srt": srt})
    assert done.error is None, done.error
    whole = (done.out / "encode" / "cmaf" / "subtitles" / "eng.vtt").read_text()
    # 0.5-1.5 is cut away; 3.5-4.5 and 6.0-7.0 are 2 s earlier
    assert [(s, e) for s, e, _ in _cues(whole)] == [(1.5, 2.5), (4.0, 5.0)]
