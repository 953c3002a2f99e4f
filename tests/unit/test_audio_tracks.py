"""Audio tracks: what the probe reads of each, which a ladder keeps, the renditions and argv
planned from them, and what the finished master playlist and MPD say of each (parsed with
the m3u8 library and an XML parser, from manifests ffmpeg 5.1 wrote)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import PurePosixPath
from typing import Any

import m3u8
import pytest
from pydantic import ValidationError

from core.errors import InvalidMessage, UnsupportedCodec, UnsupportedMedia
from core.jobs.results import resolve_preset
from core.media.preflight import MediaLimits, check_media
from core.media.probe import AudioStream, ProbeResult, parse_probe
from core.media.probe_doc import probe_doc
from core.models import JobRequest
from core.presets import AudioRendition, AudioSelection, StreamingPreset, builtin_catalog
from core.streaming.audio_manifests import AudioLabel, AudioSet, shared_bandwidths
from core.streaming.audio_tracks import kept_tracks, plan_audio, select_tracks
from core.streaming.playlists import finish_master, finish_mpd
from core.streaming.renditions import plan_streaming
from tests.shipped_presets import shipped
from tests.unit.ffmpeg_tracks_manifests import TRACKS_MASTER, TRACKS_MPD
from tests.unit.ffprobe_docs import AAC_STREAM, mp4_doc

DASH = "{urn:mpeg:dash:schema:mpd:2011}"
WEB = shipped("web-hls", StreamingPreset)
STEREO = AudioRendition(name="aac-128k", bitrate_kbps=128, channels=2)
SURROUND = AudioRendition(name="aac-5.1", bitrate_kbps=384, channels=6)


def sound(index: int, **fields: Any) -> dict[str, Any]:
    stream = {**AAC_STREAM, "index": index, **fields}
    stream["disposition"] = {"default": 0, **fields.get("disposition", {})}
    return stream


def three_tracks() -> ProbeResult:
    """English (default), Spanish commentary with a title, French 5.1 (side)."""
    doc = mp4_doc()
    doc["streams"] = [
        doc["streams"][0],
        sound(1, tags={"language": "eng"}, disposition={"default": 1}),
        sound(2, tags={"language": "spa", "title": "Comentarios"}, disposition={"comment": 1}),
        sound(3, tags={"language": "fra"}, channels=6, channel_layout="5.1(side)"),
    ]
    return parse_probe(probe_doc(doc))


def test_the_probe_lists_every_track_with_its_language_layout_and_role() -> None:
    probe = three_tracks()
    assert probe.audio == probe.audio_tracks[0]  # the first, for one-track callers
    found = [
        (t.track, t.index, t.language, t.title, t.channel_layout, t.default, t.role)
        for t in probe.audio_tracks
    ]
    assert found == [
        (0, 1, "eng", None, "stereo", True, "main"),
        (1, 2, "spa", "Comentarios", "stereo", False, "commentary"),
        (2, 3, "fra", None, "5.1(side)", False, "main"),
    ]


def test_the_probe_keeps_no_tag_text_it_cannot_vouch_for() -> None:
    doc = mp4_doc(
        audio={
            "tags": {"language": "und", "title": 'a "quoted"\nline'},
            "channel_layout": "bad layout\n",
            "disposition": {"visual_impaired": 1},
        }
    )
    (track,) = parse_probe(probe_doc(doc)).audio_tracks
    assert (track.language, track.title, track.channel_layout) == (None, None, None)
    assert track.role == "description"


def test_a_probe_built_with_one_sound_lists_it_as_its_track() -> None:
    one = AudioStream(codec="aac", channels=2, sample_rate=48000, index=1)
    probe = ProbeResult("mp4", 4.0, None, None, one)
    assert probe.audio_tracks == (one,)


def test_selection_by_language_or_number_keeps_the_files_order() -> None:
    tracks = three_tracks().audio_tracks
    chosen = select_tracks(AudioSelection(languages=("fra", "eng")), tracks)
    assert [t.language for t in chosen] == ["eng", "fra"]
    assert [t.track for t in select_tracks(AudioSelection(tracks=(2, 0)), tracks)] == [0, 2]
    assert select_tracks(AudioSelection(), tracks) == tracks


def test_a_track_without_a_sound_format_is_left_out_unless_it_is_the_only_one() -> None:
    first, second, third = three_tracks().audio_tracks
    empty = AudioStream("ac3", 0, 0, index=4, track=3, language="eng")
    assert select_tracks(AudioSelection(), (first, second, third, empty)) == (first, second, third)
    assert select_tracks(AudioSelection(), (empty,)) == (empty,)


def test_a_track_without_a_sound_format_chosen_by_number_is_refused_not_waited_on() -> None:
    first, second, third = three_tracks().audio_tracks
    empty = AudioStream("ac3", 0, 0, index=4, track=3, language="eng")
    with pytest.raises(UnsupportedMedia, match=r"audio_tracks\.tracks: track 3 has no sound"):
        select_tracks(AudioSelection(tracks=(0, 3)), (first, second, third, empty))
    only = AudioStream("ac3", 0, 0, index=1, track=0)
    assert select_tracks(AudioSelection(tracks=(0,)), (only,)) == (only,)  # the first: as ever


def test_a_selection_the_input_cannot_meet_is_refused_permanently() -> None:
    tracks = three_tracks().audio_tracks
    with pytest.raises(UnsupportedMedia, match=r"audio_tracks\.tracks: track 5"):
        select_tracks(AudioSelection(tracks=(0, 5)), tracks)
    with pytest.raises(UnsupportedMedia, match=r"audio_tracks\.languages"):
        select_tracks(AudioSelection(languages=("deu",)), tracks)


@pytest.mark.parametrize(
    "body",
    [
        {"languages": ["eng"], "tracks": [0]},
        {"tracks": [1, 1]},
        {"languages": ["English"]},
        {"tracks": [40]},
        {"languages": []},
    ],
)
def test_bad_selections_are_refused_by_the_model(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AudioSelection.model_validate(body)


def test_every_track_in_stereo_and_the_51_one_in_51_too() -> None:
    planned = plan_audio((STEREO, SURROUND), three_tracks().audio_tracks)
    found = [
        (p.name, p.group, p.channels, p.language, p.role, p.default, p.autoselect) for p in planned
    ]
    assert found == [
        ("aac-128k-eng", "aac-128k", 2, "eng", "main", True, True),
        ("aac-128k-spa", "aac-128k", 2, "spa", "commentary", False, False),
        ("aac-128k-fra", "aac-128k", 2, "fra", "main", False, True),
        ("aac-5.1-fra", "aac-5.1", 6, "fra", "main", False, True),
    ]
    assert [p.label for p in planned] == ["eng", "Comentarios", "fra", "fra 5.1"]


def test_one_track_keeps_the_presets_names_and_two_of_a_language_stay_apart() -> None:
    (track,) = three_tracks().audio_tracks[:1]
    assert [p.name for p in plan_audio((STEREO,), (track,))] == ["aac-128k"]
    twins = (track, AudioStream("aac", 2, 48000, index=5, track=1, language="eng"))
    planned = plan_audio((STEREO,), twins)
    assert [(p.name, p.label, p.default) for p in planned] == [
        ("aac-128k-eng", "eng", True),
        ("aac-128k-eng-1", "eng (1)", False),
    ]


def test_the_cmaf_argv_maps_each_track_and_sets_one_adaptation_set_per_track() -> None:
    plan = plan_streaming(WEB, three_tracks(), PurePosixPath("/j/in"), PurePosixPath("/j/out"))
    argv, rungs = plan.argv, len(plan.video)
    graph = argv[argv.index("-filter_complex") + 1]
    for index, labels in ((1, "[a0]"), (2, "[a1]"), (3, "[a2][a3]")):
        assert f"[0:{index}]aresample" in graph
        assert f"asplit={len(labels) // 4}{labels}" in graph
    sets = argv[argv.index("-adaptation_sets") + 1]
    assert sets.split(" ")[1:] == [  # output streams: the rungs', then the audio's
        f"id=1,seg_duration=8,streams={rungs}",
        f"id=2,seg_duration=8,streams={rungs + 1}",
        f"id=3,seg_duration=8,streams={rungs + 2},{rungs + 3}",
    ]
    assert argv[argv.index("-ac:a:3") + 1] == "6"
    assert argv[argv.index("-metadata:s:a:1") + 1] == "language=spa"


def test_hls_ts_of_several_tracks_maps_them_as_alternatives_of_one_group() -> None:
    probe = three_tracks()
    ts = builtin_catalog().presets["hls-ts"]
    assert isinstance(ts, StreamingPreset)
    plan = plan_streaming(ts, probe, PurePosixPath("/j/in"), PurePosixPath("/j/out"))
    rungs = len(plan.video)
    assert [a.track for a in plan.audio] == [0, 1, 2]
    assert not plan.muxed_audio
    streams = plan.argv[plan.argv.index("-var_stream_map") + 1].split(" ")
    assert streams == [
        *(f"v:{i},agroup:aac-128k,name:{i}" for i in range(rungs)),
        f"a:0,agroup:aac-128k,language:eng,default:yes,name:{rungs}",
        f"a:1,agroup:aac-128k,language:spa,name:{rungs + 1}",
        f"a:2,agroup:aac-128k,language:fra,name:{rungs + 2}",
    ]
    # without a picture there is no variant to hang alternatives on: the first track
    sound = ts.model_copy(update={"ladder": ()})
    assert kept_tracks(sound, probe) == probe.audio_tracks[:1]


def labels() -> dict[str, AudioLabel]:
    planned = plan_audio((STEREO, SURROUND), three_tracks().audio_tracks)
    return {
        f"media_{n}.m3u8": AudioLabel(
            p.label,
            p.group,
            p.channels,
            p.language,
            p.default,
            p.autoselect,
            p.characteristics,
            (100_000 * n, 90_000 * n),
        )
        for n, p in enumerate(planned, start=1)
    }


def test_finish_master_describes_each_track_and_pairs_each_variant_with_each_group() -> None:
    finished = m3u8.loads(
        finish_master(TRACKS_MASTER, {"media_0.m3u8": (300_000, 250_000)}, 25.0, labels())
    )
    media = [
        (m.group_id, m.language, m.name, m.default, m.autoselect, m.channels, m.uri)
        for m in finished.media
    ]
    assert media == [
        ("aac-128k", "eng", "eng", "YES", "YES", "2", "media_1.m3u8"),
        ("aac-128k", "spa", "Comentarios", "NO", "NO", "2", "media_2.m3u8"),
        ("aac-128k", "fra", "fra", "NO", "YES", "2", "media_3.m3u8"),
        ("aac-5.1", "fra", "fra 5.1", "NO", "YES", "6", "media_4.m3u8"),
    ]
    variants = [
        (p.uri, p.stream_info.audio, p.stream_info.bandwidth, p.stream_info.average_bandwidth)
        for p in finished.playlists
    ]
    # the video's own rate plus the loudest rendition of the group
    assert variants == [
        ("media_0.m3u8", "aac-128k", 300_000 + 300_000, 250_000 + 270_000),
        ("media_0.m3u8", "aac-5.1", 300_000 + 400_000, 250_000 + 360_000),
    ]
    # finishing twice changes nothing
    again = finish_master(finished.dumps(), {"media_0.m3u8": (300_000, 250_000)}, 25.0, labels())
    assert again == finished.dumps()


def test_finish_mpd_gives_each_audio_set_its_language_and_role() -> None:
    sets = {
        "1": AudioSet("eng", "main"),
        "2": AudioSet("spa", "commentary"),
        "3": AudioSet("fra", "description"),
        "4": AudioSet("fra", "description"),
    }
    finished = finish_mpd(TRACKS_MPD, {}, sets)
    root = ET.fromstring(finished)
    audio = [a for a in root.iter(f"{DASH}AdaptationSet") if a.get("contentType") == "audio"]
    found = [
        (a.get("lang"), [(c.tag.removeprefix(DASH), c.get("value")) for c in a][:2]) for a in audio
    ]
    assert found == [
        ("eng", [("Role", "main"), ("Representation", None)]),
        ("spa", [("Role", "commentary"), ("Representation", None)]),
        ("fra", [("Accessibility", "1"), ("Role", "description")]),
    ]
    assert finish_mpd(finished, {}, sets) == finished  # one Role, however often finished


AUDIO_ALONE = """\
#EXTM3U
#EXT-X-VERSION:7
#EXT-X-STREAM-INF:BANDWIDTH=71106,CODECS="mp4a.40.2"
media_0.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=69000,CODECS="mp4a.40.2"
media_1.m3u8

"""  # what the muxer wrote for two tracks without a picture, one stream each


def test_tracks_without_a_picture_become_alternatives_of_one_variant() -> None:
    eng = AudioLabel("eng", "aac-128k", 2, "eng", True, True, None, (130_000, 120_000))
    spa = AudioLabel("spa", "aac-128k", 2, "spa", False, True, None, (140_000, 110_000))
    labels = {"media_0.m3u8": eng, "media_1.m3u8": spa}
    finished = finish_master(AUDIO_ALONE, {}, None, labels)
    doc = m3u8.loads(finished)
    assert [(m.uri, m.language, m.default) for m in doc.media] == [
        ("media_0.m3u8", "eng", "YES"),
        ("media_1.m3u8", "spa", "NO"),
    ]
    (variant,) = doc.playlists  # the default track's playlist, with its group
    assert (variant.uri, variant.stream_info.audio) == ("media_0.m3u8", "aac-128k")
    assert (variant.stream_info.bandwidth, variant.stream_info.average_bandwidth) == (
        140_000,
        120_000,
    )
    assert finish_master(finished, {}, None, labels) == finished


def test_a_request_chooses_the_tracks_of_its_streaming_preset_only() -> None:
    body = {
        "input": {"bucket": "bucket-in", "key": "film.mkv"},
        "preset": "web-hls",
        "audio_tracks": {"languages": ["spa"]},
    }
    preset = resolve_preset(builtin_catalog(), JobRequest.model_validate(body))
    assert isinstance(preset, StreamingPreset)
    assert preset.audio_tracks == AudioSelection(languages=("spa",))
    assert preset.spec_hash() != WEB.spec_hash()  # another job than the preset's own
    with pytest.raises(InvalidMessage, match="no audio tracks to replace"):
        resolve_preset(builtin_catalog(), JobRequest.model_validate({**body, "preset": "mp4-720p"}))


def test_preflight_checks_the_codec_of_every_track_a_ladder_keeps() -> None:
    doc = mp4_doc()
    doc["streams"].append(sound(2, codec_name="wmav2", tags={"language": "spa"}))
    probe = parse_probe(probe_doc(doc))
    limits = MediaLimits(codecs=tuple(c for c in MediaLimits().codecs if c != "wmav2"))
    with pytest.raises(UnsupportedCodec, match="audio stream 2 is wmav2"):
        check_media(probe, limits, WEB)
    first = WEB.model_copy(update={"audio_tracks": AudioSelection(tracks=(0,))})
    check_media(probe, limits, first)  # not kept: not decoded
    check_media(probe, limits, builtin_catalog().presets["mp4-720p"])  # an MP4: the first


def test_pairing_the_audio_groups_keeps_a_variants_subtitles() -> None:
    subtitled = TRACKS_MASTER.replace(
        "#EXT-X-STREAM-INF:",
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",'
        'LANGUAGE="eng",URI="subs_eng.m3u8"\n#EXT-X-STREAM-INF:SUBTITLES="subs",',
    )
    finished = m3u8.loads(finish_master(subtitled, {}, None, labels()))
    assert [(p.stream_info.audio, p.stream_info.subtitles) for p in finished.playlists] == [
        ("aac-128k", "subs"),
        ("aac-5.1", "subs"),
    ]
    assert 'SUBTITLES="subs"' in finished.dumps().split("#EXT-X-STREAM-INF:")[2]


def test_every_language_of_one_rendition_states_the_largest_bandwidth_of_them() -> None:
    peaks = {"0": 800_000, "1": 130_313, "2": 130_307, "3": 390_000, "4": 130_900}
    groups = {"1": "aac-128k", "2": "aac-128k", "3": "aac-5.1", "4": "aac-128k"}
    assert shared_bandwidths(peaks, groups) == {
        "0": 800_000, "1": 130_900, "2": 130_900, "3": 390_000, "4": 130_900,
    }  # fmt: skip
