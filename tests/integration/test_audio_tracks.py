"""Audio tracks in a streaming package, with the real pipeline (``local_job.py``): a source
with an English main track, a Spanish commentary and a French 5.1 track becomes one
rendition per track and layout; the master playlist and the MPD say which is which, and
each rendition decodes to its own track's sound, layout and language."""

from __future__ import annotations

import itertools
import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import m3u8
import pytest

from core.presets import AudioSelection, StreamingPreset
from tests.hls_entries import language_of, uri_of
from tests.integration.local_job import AUDIO_ONLY, WEB, Outcome, ffmpeg, run_local
from tests.integration.steps_job import run_steps
from tests.integration.test_surround_steps import centre_volume
from tests.shipped_presets import shipped
from tests.step_docs import StepDocs

pytestmark = pytest.mark.integration

DASH = "{urn:mpeg:dash:schema:mpd:2011}"
TS = shipped("hls-ts", StreamingPreset)
SECONDS = "3"
TONES = {"eng": 440, "spa": 1000, "fra": 3000}  # a tone per track, told apart by frequency


def three_tracks(work: Path) -> Path:
    """Matroska (it keeps titles): a picture, English (default), Spanish commentary titled
    "Comentarios", French 5.1."""
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={SECONDS}"]
    for lang, freq in TONES.items():
        layout = ",aformat=channel_layouts=5.1" if lang == "fra" else ""
        inputs += ["-f", "lavfi", "-i", f"sine=frequency={freq}:duration={SECONDS}{layout}"]
    ffmpeg(*inputs, "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
           "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=spa",
           "-metadata:s:a:1", "title=Comentarios", "-metadata:s:a:2", "language=fra",
           "-disposition:a:0", "default", "-disposition:a:1", "comment",
           "-disposition:a:2", "0", "tracks.mkv", cwd=work)  # fmt: skip
    return work / "tracks.mkv"


def small(preset: StreamingPreset, **update: Any) -> StreamingPreset:
    """The preset on the one 240p rung (the source's), faster to run."""
    return StreamingPreset.model_validate({**preset.model_dump(), "name": "tracks", **update})


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    work = tmp_path_factory.mktemp("tracks")
    outcome = run_local(three_tracks(work), work, small(WEB))
    assert outcome.error is None, outcome.error
    return outcome


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    doc: dict[str, Any] = json.loads(out)
    return doc


def joined(cmaf: Path, playlist: str, dest: Path) -> Path:
    """A rendition's init and media segments as one file, as a player feeds them."""
    doc = m3u8.load(str(cmaf / playlist))
    parts = [cmaf / uri_of(doc.segment_map[0])] + [cmaf / uri_of(s) for s in doc.segments]
    dest.write_bytes(b"".join(p.read_bytes() for p in parts))
    return dest


def tone_frequency(path: Path) -> float:
    """The tone's frequency from its zero crossings: one second, every channel mixed, as
    16-bit PCM, crossings counted."""
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-t", "1", "-ac", "1",
         "-f", "s16le", "-ar", "48000", "-"], capture_output=True, check=True,
    ).stdout  # fmt: skip
    samples = [int.from_bytes(pcm[i : i + 2], "little", signed=True) for i in range(0, len(pcm), 2)]
    crossings = sum(1 for a, b in itertools.pairwise(samples) if a < 0 <= b)
    return crossings * 48000 / len(samples)


def test_master_lists_every_track_per_group(package: Outcome) -> None:
    doc = m3u8.load(str(package.out / "cmaf" / "master.m3u8"))
    audio = [m for m in doc.media if m.type == "AUDIO"]
    stereo = {language_of(m): m for m in audio if m.group_id == "aac-128k"}
    surround = [m for m in audio if m.group_id == "aac-5.1"]
    assert sorted(stereo) == ["eng", "fra", "spa"]
    assert [(m.language, m.channels) for m in surround] == [("fra", "6")]
    assert {m.channels for m in stereo.values()} == {"2"}
    assert stereo["eng"].default == "YES"
    assert stereo["eng"].autoselect == "YES"
    assert stereo["spa"].default == "NO"
    assert stereo["spa"].autoselect == "NO"
    assert stereo["spa"].name == "Comentarios"
    assert stereo["fra"].default == "NO"
    assert stereo["fra"].autoselect == "YES"
    assert len({m.name for m in stereo.values()}) == 3
    # every variant once per group, naming it; the group's audio counted in its bandwidth
    groups = [(p.uri, p.stream_info.audio) for p in doc.playlists]
    assert sorted(g or "" for _, g in groups) == ["aac-128k", "aac-5.1"]
    assert len({uri for uri, _ in groups}) == 1
    rates = {p.stream_info.audio: p.stream_info.bandwidth or 0 for p in doc.playlists}
    assert rates["aac-5.1"] > rates["aac-128k"]


def test_mpd_has_a_set_per_track_with_lang_and_role(package: Outcome) -> None:
    root = ET.parse(package.out / "cmaf" / "manifest.mpd").getroot()
    sets = [a for a in root.iter(f"{DASH}AdaptationSet") if a.get("contentType") == "audio"]
    found = {
        a.get("lang"): (
            [r.get("value") for r in a.findall(f"{DASH}Role")],
            sorted(
                c.get("value") or ""
                for r in a.findall(f"{DASH}Representation")
                for c in r.findall(f"{DASH}AudioChannelConfiguration")
            ),
        )
        for a in sets
    }
    assert found == {
        "eng": (["main"], ["2"]),
        "spa": (["commentary"], ["2"]),
        "fra": (["main"], ["2", "6"]),
    }


def test_each_rendition_decodes_to_its_own_track(package: Outcome, tmp_path: Path) -> None:
    cmaf = package.out / "cmaf"
    doc = m3u8.load(str(cmaf / "master.m3u8"))
    for media in (m for m in doc.media if m.type == "AUDIO"):
        rendition = joined(cmaf, uri_of(media), tmp_path / f"{media.group_id}-{media.language}.mp4")
        [stream] = ffprobe(rendition)["streams"]
        assert stream["channels"] == int(media.channels or "")
        assert stream["tags"]["language"] == media.language
        expected = TONES[language_of(media)]  # the tones are far apart
        assert abs(tone_frequency(rendition) - expected) < 0.15 * expected, media.language


def test_a_selection_keeps_only_its_languages(tmp_path: Path) -> None:
    preset = small(WEB, audio_tracks=AudioSelection(languages=("spa",)))
    outcome = run_local(three_tracks(tmp_path), tmp_path, preset)
    assert outcome.error is None, outcome.error
    doc = m3u8.load(str(outcome.out / "cmaf" / "master.m3u8"))
    assert [(m.language, m.group_id, m.default) for m in doc.media] == [("spa", "aac-128k", "YES")]


def test_audio_alone_lists_the_tracks_as_alternatives(tmp_path: Path) -> None:
    """No picture: one variant per group (its default track), every track an alternative."""
    outcome = run_local(three_tracks(tmp_path), tmp_path, small(AUDIO_ONLY))
    assert outcome.error is None, outcome.error
    doc = m3u8.load(str(outcome.out / "cmaf" / "master.m3u8"))
    media = sorted((m.group_id, m.language) for m in doc.media)
    assert media == sorted((g, lang) for g in ("aac-128k", "aac-64k") for lang in TONES)
    defaults = {m.group_id: m.uri for m in doc.media if m.default == "YES"}
    assert [(p.stream_info.audio, p.uri) for p in doc.playlists] == list(defaults.items())
    assert all(p.stream_info.resolution is None for p in doc.playlists)


def seconds(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out)


def audio_sets(mpd: Path) -> dict[str, list[str]]:
    """The MPD's audio AdaptationSets: lang -> its Representations' channel counts."""
    root = ET.parse(mpd).getroot()
    return {
        a.get("lang", ""): sorted(
            c.get("value") or ""
            for r in a.findall(f"{DASH}Representation")
            for c in r.findall(f"{DASH}AudioChannelConfiguration")
        )
        for a in root.iter(f"{DASH}AdaptationSet")
        if a.get("contentType") == "audio"
    }


@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_a_steps_job_keeps_every_track(factor: float, tmp_path: Path) -> None:
    """Trim, a caption (and a speed-up): each track is cut (and sped up, its pitch kept)
    alike; the French 5.1 track stays 5.1 through the chain (a 5.1 rendition and its stereo
    downmix, as a plain job makes)."""
    speed = [{"op": "speed", "factor": factor}] if factor != 1.0 else []
    steps: StepDocs = [
        {"op": "trim", "start": 0.5, "end": 2.5},
        {"op": "text", "text": "FFAPI"},
        *speed,
        {"op": "encode", "preset": "web-hls"},
    ]
    outcome = run_steps(three_tracks(tmp_path), tmp_path / "run", steps)
    assert outcome.error is None, outcome.error
    cmaf = outcome.out / "encode" / "cmaf"
    doc = m3u8.load(str(cmaf / "master.m3u8"))
    audio = [m for m in doc.media if m.type == "AUDIO"]
    assert [(m.language, m.group_id, m.default) for m in audio] == [
        ("eng", "aac-128k", "YES"),
        ("spa", "aac-128k", "NO"),
        ("fra", "aac-128k", "NO"),
        ("fra", "aac-5.1", "NO"),
    ]
    assert audio_sets(cmaf / "manifest.mpd") == {"eng": ["2"], "spa": ["2"], "fra": ["2", "6"]}
    for n, media in enumerate(audio):
        rendition = joined(cmaf, uri_of(media), tmp_path / f"{n}-{media.language}.mp4")
        [stream] = ffprobe(rendition)["streams"]
        channels = 6 if media.group_id == "aac-5.1" else 2
        assert (stream["channels"], stream["tags"]["language"]) == (channels, media.language)
        if channels == 6:  # the track's own 5.1 (its tone in the centre), not stereo spread
            assert centre_volume(rendition) > -40.0
        assert abs(seconds(rendition) - 2.0 / factor) < 0.1, media.language
        expected = TONES[language_of(media)]
        assert abs(tone_frequency(rendition) - expected) < 0.15 * expected, media.language


@pytest.mark.parametrize("op", ["mix", "concat"])
def test_a_steps_job_of_one_soundtrack_keeps_the_first_track(op: str, tmp_path: Path) -> None:
    """``mix`` and ``concat`` build one soundtrack from the first track: the package has it
    alone, and the job's notes say so."""
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=200:duration=1", "-f", "lavfi", "-i",
           "testsrc2=size=320x240:rate=25:duration=1", "-c:v", "libx264", "-preset",
           "ultrafast", "-c:a", "aac", "more.mp4", cwd=tmp_path)  # fmt: skip
    ref = {"key": "more/clip.mp4"}
    first = {"op": "mix", "tracks": [{"audio": ref, "gain_db": -20.0}]}
    steps: StepDocs = [
        first if op == "mix" else {"op": "concat", "inputs": [ref]},
        {"op": "encode", "preset": "web-hls"},
    ]
    outcome = run_steps(
        three_tracks(tmp_path), tmp_path / "run", steps, {"more/clip.mp4": tmp_path / "more.mp4"}
    )
    assert outcome.error is None, outcome.error
    assert outcome.result is not None
    note = f"steps[0] ({op}): one soundtrack; the package keeps only the first audio track"
    assert note in outcome.result.notes
    audio = [r for r in outcome.step("encode").renditions if r.kind == "audio"]
    assert [r.name for r in audio] == ["aac-128k"]
    cmaf = outcome.out / "encode" / "cmaf"
    (media,) = m3u8.load(str(cmaf / "master.m3u8")).media
    rendition = joined(cmaf, uri_of(media), tmp_path / "first.mp4")
    assert abs(tone_frequency(rendition) - TONES["eng"]) < 0.15 * TONES["eng"]


def test_sidecar_subtitles_beside_every_audio_track(tmp_path: Path) -> None:
    """Two sidecar subtitles steps on the three-track input: the master lists the three
    audio languages and both subtitle languages, the MPD a set for each."""
    (tmp_path / "en.srt").write_text("1\n00:00:00,500 --> 00:00:01,500\nHello\n")
    (tmp_path / "fr.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nBonjour\n")
    steps: StepDocs = [
        {"op": "subtitles", "source": {"key": "subs/en.srt"}, "language": "eng"},
        {"op": "subtitles", "source": {"key": "subs/fr.vtt"}, "language": "fra"},
        {"op": "encode", "preset": "web-hls"},
    ]
    attached = {"subs/en.srt": tmp_path / "en.srt", "subs/fr.vtt": tmp_path / "fr.vtt"}
    outcome = run_steps(three_tracks(tmp_path), tmp_path / "run", steps, attached)
    assert outcome.error is None, outcome.error
    cmaf = outcome.out / "encode" / "cmaf"
    doc = m3u8.load(str(cmaf / "master.m3u8"))
    # the French 5.1 track: a stereo rendition and a 5.1 one (a group of its own)
    audio = sorted(language_of(m) for m in doc.media if m.type == "AUDIO")
    assert audio == ["eng", "fra", "fra", "spa"]
    assert sorted(language_of(m) for m in doc.media if m.type == "SUBTITLES") == ["eng", "fra"]
    assert doc.playlists
    assert all(p.stream_info.subtitles == "subs" for p in doc.playlists)
    assert {p.stream_info.audio for p in doc.playlists} == {"aac-128k", "aac-5.1"}
    assert sorted(audio_sets(cmaf / "manifest.mpd")) == ["eng", "fra", "spa"]
    root = ET.parse(cmaf / "manifest.mpd").getroot()
    texts = [
        a.get("lang", "")
        for a in root.iter(f"{DASH}AdaptationSet")
        if a.get("contentType") == "text"
    ]
    assert sorted(texts) == ["eng", "fra"]
    for n, media in enumerate(m for m in doc.media if m.type == "AUDIO"):
        rendition = joined(cmaf, uri_of(media), tmp_path / f"{n}-{media.language}.mp4")
        expected = TONES[language_of(media)]
        assert abs(tone_frequency(rendition) - expected) < 0.15 * expected, media.language


def test_the_result_names_each_audio_renditions_track(package: Outcome) -> None:
    assert package.result is not None
    audio = [
        (r.name, r.track, r.language, r.role, r.channels)
        for r in package.result.renditions
        if r.kind == "audio"
    ]
    assert audio == [
        ("aac-128k-eng", 0, "eng", "main", 2),
        ("aac-128k-spa", 1, "spa", "commentary", 2),
        ("aac-128k-fra", 2, "fra", "main", 2),
        ("aac-5.1-fra", 2, "fra", "main", 6),
    ]


def test_hls_ts_of_several_tracks_makes_them_alternatives(tmp_path: Path) -> None:
    """MPEG-TS: video-only variants naming one group, each track an audio-only rendition."""
    outcome = run_local(three_tracks(tmp_path), tmp_path, small(TS))
    assert outcome.error is None, outcome.error
    hls = outcome.out / "hls"
    doc = m3u8.load(str(hls / "master.m3u8"))
    found = [(m.language, m.group_id, m.default, m.autoselect) for m in doc.media]
    assert found == [
        ("eng", "aac-128k", "YES", "YES"),
        ("spa", "aac-128k", "NO", "NO"),
        ("fra", "aac-128k", "NO", "YES"),
    ]
    assert {p.stream_info.audio for p in doc.playlists} == {"aac-128k"}
    for playlist in doc.playlists:  # the variants carry no audio of their own
        first = hls / uri_of(m3u8.load(str(hls / uri_of(playlist))).segments[0])
        assert [s["codec_type"] for s in ffprobe(first)["streams"]] == ["video"]
    for media in doc.media:
        rendition = tmp_path / f"{media.language}.ts"
        parts = [hls / uri_of(s) for s in m3u8.load(str(hls / uri_of(media))).segments]
        rendition.write_bytes(b"".join(p.read_bytes() for p in parts))
        expected = TONES[language_of(media)]
        assert abs(tone_frequency(rendition) - expected) < 0.15 * expected, media.language


def test_a_steps_job_s_quality_pass_and_hls_ts_take_the_tracks(tmp_path: Path) -> None:
    """The quality pass reads the chain again (its tracks sunk); an hls-ts ladder makes each
    track an audio-only rendition, as a preset job's does."""
    steps: StepDocs = [
        {"op": "trim", "start": 0.5},
        {"op": "encode", "preset": "hls-ts"},
        {"op": "quality"},
    ]
    outcome = run_steps(three_tracks(tmp_path), tmp_path / "run", steps)
    assert outcome.error is None, outcome.error
    quality = outcome.step("quality").quality
    assert [r.name for r in quality.renditions] == ["encode/source"]
    assert all(r.ssim_mean > 0.9 for r in quality.renditions)
    hls = outcome.out / "encode" / "hls"
    doc = m3u8.load(str(hls / "master.m3u8"))
    assert [(m.language, m.group_id) for m in doc.media] == [
        ("eng", "aac-128k"),
        ("spa", "aac-128k"),
        ("fra", "aac-128k"),
    ]
    for media in doc.media:
        rendition = tmp_path / f"{media.language}.ts"
        parts = [hls / uri_of(s) for s in m3u8.load(str(hls / uri_of(media))).segments]
        rendition.write_bytes(b"".join(p.read_bytes() for p in parts))
        expected = TONES[language_of(media)]
        assert abs(tone_frequency(rendition) - expected) < 0.15 * expected, media.language
