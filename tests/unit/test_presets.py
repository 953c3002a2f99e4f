"""core.presets: the shipped catalog, reading a user's file over it, refusing bad files, and
the spec hash that identifies what a preset produces."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from core.presets import (
    AudioRendition,
    AudioSelection,
    LoudnessTarget,
    Mp4Preset,
    PresetFileError,
    Rung,
    Storyboard,
    StreamingPreset,
    Thumbnails,
    builtin_catalog,
    parse_catalog,
)


def test_builtin_catalog_names_and_default() -> None:
    catalog = builtin_catalog()
    assert set(catalog.presets) == {
        "web-hls",
        "web-av1",
        "hls-ts",
        "audio-only",
        "mp4-720p",
        "mp4-480p",
    }
    assert catalog.default == "web-hls"
    assert catalog.get("web-hls") is catalog.presets["web-hls"]
    assert catalog.get("nope") is None
    assert all(p.name == name for name, p in catalog.presets.items())
    assert builtin_catalog() is catalog  # read once


def test_web_hls_is_a_four_rung_cmaf_ladder() -> None:
    web = builtin_catalog().presets["web-hls"]
    assert isinstance(web, StreamingPreset)
    assert web.kind == "cmaf"
    assert [r.short_side for r in web.ladder] == [1080, 720, 480, 360]
    assert [r.name for r in web.ladder] == ["1080p", "720p", "480p", "360p"]
    assert all(r.maxrate_kbps >= r.video_kbps for r in web.ladder)
    assert all(r.bufsize_kbps >= r.maxrate_kbps for r in web.ladder)
    assert web.segment_seconds == 4
    # stereo from every track, and 5.1 from a 5.1 track; every track kept
    assert [(a.bitrate_kbps, a.channels) for a in web.audio] == [(128, 2), (384, 6)]
    assert web.audio_tracks == AudioSelection()
    assert web.thumbnails is not None
    assert web.storyboard is not None


def test_hls_ts_audio_only_and_mp4_presets() -> None:
    presets = builtin_catalog().presets
    ts = presets["hls-ts"]
    assert isinstance(ts, StreamingPreset)
    assert ts.kind == "hls-ts"
    assert [r.short_side for r in ts.ladder] == [720, 480, 360]
    assert len(ts.audio) == 1
    audio_only = presets["audio-only"]
    assert isinstance(audio_only, StreamingPreset)
    assert audio_only.ladder == ()
    assert [a.bitrate_kbps for a in audio_only.audio] == [128, 64]
    mp4_720, mp4_480 = presets["mp4-720p"], presets["mp4-480p"]
    assert isinstance(mp4_720, Mp4Preset)
    assert isinstance(mp4_480, Mp4Preset)
    assert (mp4_720.kind, mp4_720.max_height) == ("mp4", 720)
    assert (mp4_480.max_height, mp4_480.crf, mp4_480.audio_bitrate_kbps) == (480, 24, 96)


def test_a_user_file_replaces_adds_and_keeps() -> None:
    base = builtin_catalog()
    user_file = (
        '[presets.web-hls]\nkind = "cmaf"\nladder = [{ name = "540p", short_side = 540, '
        "video_kbps = 2000, maxrate_kbps = 2200, bufsize_kbps = 3000 }]\n"
        '[presets.mp4-1080p]\nkind = "mp4"\nmax_height = 1080\n'
    )
    catalog = parse_catalog(user_file, base)
    web = catalog.presets["web-hls"]
    assert isinstance(web, StreamingPreset)
    assert [r.name for r in web.ladder] == ["540p"]
    # Replaced whole, not merged: what the user file leaves out takes the model's defaults.
    assert web.thumbnails is None
    assert web.storyboard is None
    assert web.name == "web-hls"
    added = catalog.presets["mp4-1080p"]
    assert isinstance(added, Mp4Preset)
    assert (added.name, added.max_height) == ("mp4-1080p", 1080)
    assert catalog.presets["hls-ts"] == base.presets["hls-ts"]
    assert catalog.default == "web-hls"  # the base's, when the file names none
    assert base.presets["web-hls"].spec_hash() != web.spec_hash()
    base_web = base.presets["web-hls"]
    assert isinstance(base_web, StreamingPreset)
    assert len(base_web.ladder) == 4  # the base is left alone


def test_a_user_file_can_change_the_default() -> None:
    catalog = parse_catalog('default = "mp4-480p"', builtin_catalog())
    assert catalog.default == "mp4-480p"
    assert catalog.presets == builtin_catalog().presets
    custom = parse_catalog('default = "tiny"\n[presets.tiny]\nkind = "mp4"\nmax_height = 144\n')
    assert custom.default == "tiny"
    assert list(custom.presets) == ["tiny"]


BAD_FILES = {  # name: (file text, what the error says)
    "not TOML": ("default = \n[presets", "not TOML"),
    "unknown field": (
        '[presets.x]\nkind = "mp4"\nmax_height = 720\ncolour = "red"\n',
        "extra_forbidden",
    ),
    "unknown kind": ('[presets.x]\nkind = "webm"\n', "webm"),
    "ladder not descending": (
        '[presets.x]\nkind = "cmaf"\nladder = [\n'
        '  { name = "a", short_side = 360, video_kbps = 800, maxrate_kbps = 900,'
        " bufsize_kbps = 1200 },\n"
        '  { name = "b", short_side = 720, video_kbps = 2800, maxrate_kbps = 3000,'
        " bufsize_kbps = 4200 },\n]\n",
        "strictly descending",
    ),
    "default names a missing preset": ('default = "missing"\n', "'missing' is not defined"),
    "keep hdr with libx264": (
        '[presets.x]\nkind = "cmaf"\nhdr = "keep"\nvideo_codec = "libx264"\n',
        "needs video_codec",
    ),
    "maxrate below bitrate": (
        '[presets.x]\nkind = "cmaf"\nladder = [{ name = "a", short_side = 360,'
        " video_kbps = 800, maxrate_kbps = 700, bufsize_kbps = 1200 }]\n",
        "maxrate_kbps is below",
    ),
    "loudness without audio renditions": (
        '[presets.x]\nkind = "cmaf"\naudio = []\nloudness = { target_lufs = -16 }\nladder = ['
        '{ name = "a", short_side = 360, video_kbps = 800, maxrate_kbps = 900,'
        " bufsize_kbps = 1200 }]\n",
        "no audio renditions to normalize",
    ),
    "loudness target out of range": (
        '[presets.x]\nkind = "cmaf"\nloudness = { target_lufs = -80 }\n',
        "loudness.target_lufs",
    ),
    "bad preset name": ('[presets."Web HLS"]\nkind = "mp4"\nmax_height = 720\n', "pattern"),
    "preset is not a table": ("[presets]\nx = 3\n", "presets.x"),
}


@pytest.mark.parametrize(("text", "says"), BAD_FILES.values(), ids=list(BAD_FILES))
def test_bad_files_raise_preset_file_error(text: str, says: str) -> None:
    with pytest.raises(PresetFileError, match=re.escape(says)):
        parse_catalog(text, builtin_catalog())


def test_a_file_without_base_needs_a_default() -> None:
    with pytest.raises(PresetFileError):
        parse_catalog('[presets.x]\nkind = "mp4"\nmax_height = 720\n')


def test_a_loudness_target_is_read_with_its_defaults() -> None:
    text = '[presets.x]\nkind = "cmaf"\nloudness = { target_lufs = -14 }\n'
    preset = parse_catalog(text, builtin_catalog()).presets["x"]
    assert isinstance(preset, StreamingPreset)
    assert preset.loudness == LoudnessTarget(target_lufs=-14.0, true_peak_db=-1.5, lra=11.0)


def test_keep_hdr_is_accepted_with_libx265() -> None:
    text = '[presets.x]\nkind = "cmaf"\nhdr = "keep"\nvideo_codec = "libx265"\n'
    preset = parse_catalog(text, builtin_catalog()).presets["x"]
    assert isinstance(preset, StreamingPreset)
    assert preset.hdr == "keep"


@pytest.mark.parametrize("text", ['presets = "x"', "presets = [1]"])
def test_presets_that_is_not_a_table_raises_preset_file_error(text: str) -> None:
    with pytest.raises(PresetFileError):
        parse_catalog(text, builtin_catalog())


STREAMING_CHANGES = {
    "kind": "hls-ts",
    "name": "web-hls-2",
    "ladder": (
        Rung(name="720p", short_side=720, video_kbps=2800, maxrate_kbps=2996, bufsize_kbps=4200),
    ),
    "audio": (AudioRendition(name="aac-96k", bitrate_kbps=96),),
    "segment_seconds": 6.0,
    "video_codec": "libx265",
    "encoder_preset": "fast",
    "max_fps": 30.0,
    "hdr": "keep",
    "thumbnails": Thumbnails(every_seconds=5.0),
    "storyboard": Storyboard(columns=5),
    "loudness": LoudnessTarget(target_lufs=-16.0),
    "audio_tracks": AudioSelection(languages=("eng",)),
}
MP4_CHANGES = {
    "name": "mp4-other",
    "max_height": 1080,
    "x264_preset": "slow",
    "crf": 20,
    "max_fps": 30.0,
    "audio_bitrate_kbps": 96,
    "audio_channels": 1,
    "poster_width": 320,
}


def test_streaming_spec_hash_changes_with_every_field() -> None:
    web = builtin_catalog().presets["web-hls"]
    assert isinstance(web, StreamingPreset)
    assert set(STREAMING_CHANGES) | LIMITS | {"progressive"} == set(StreamingPreset.model_fields)
    hashes = {web.spec_hash()}
    for field, value in STREAMING_CHANGES.items():
        assert getattr(web, field) != value, field
        hashes.add(web.model_copy(update={field: value}).spec_hash())
    assert len(hashes) == 1 + len(STREAMING_CHANGES)
    rung = web.ladder[1].model_copy(update={"bufsize_kbps": 4000})
    nudged = web.model_copy(update={"ladder": (web.ladder[0], rung, *web.ladder[2:])})
    assert nudged.spec_hash() not in hashes


def test_a_progressive_preset_is_the_same_job() -> None:
    """How the package is published (growing while it encodes) is not what it is."""
    web = builtin_catalog().presets["web-hls"]
    assert web.model_copy(update={"progressive": True}).spec_hash() == web.spec_hash()


def test_the_shipped_presets_hash_as_they_did_when_they_last_changed() -> None:
    """A job's identity is its preset's hash: it changes only when what the preset makes
    does. These are the hashes since ladders keep every audio track (and web-hls a 5.1
    rendition beside the stereo one); a loudness target, off by default, is not part of a
    preset's hash until it is set, so it changed none of them."""
    catalog = builtin_catalog().presets
    assert {n: catalog[n].spec_hash() for n in ("web-hls", "hls-ts", "audio-only")} == {
        "web-hls": "b9dee6623bd3f4fe",
        "hls-ts": "e43f6f11d1a3e64d",
        "audio-only": "3cc3c744ac375f21",
    }


def test_mp4_spec_hash_changes_with_every_field_it_can() -> None:
    mp4 = builtin_catalog().presets["mp4-720p"]
    assert isinstance(mp4, Mp4Preset)
    fixed = {"kind", "video_codec", "audio_codec"}  # single-valued literals
    assert set(MP4_CHANGES) | fixed | LIMITS == set(Mp4Preset.model_fields)
    hashes = {mp4.spec_hash()} | {
        mp4.model_copy(update={f: v}).spec_hash() for f, v in MP4_CHANGES.items()
    }
    assert len(hashes) == 1 + len(MP4_CHANGES)


# Which inputs a preset takes is not what it makes: its limits leave its identity alone.
LIMITS = {"max_duration_seconds", "max_input_bytes"}


@pytest.mark.parametrize("name", ["web-hls", "mp4-720p"])
def test_a_presets_limits_are_no_part_of_its_spec_hash(name: str) -> None:
    preset = builtin_catalog().presets[name]
    capped = preset.model_copy(update={"max_duration_seconds": 60.0, "max_input_bytes": 1000})
    assert capped.spec_hash() == preset.spec_hash()


def test_preset_limits_are_read_from_a_presets_file() -> None:
    text = """
[presets.short-clips]
kind = "mp4"
max_height = 480
max_duration_seconds = 120
max_input_bytes = 50_000_000
"""
    preset = parse_catalog(text, builtin_catalog()).presets["short-clips"]
    assert (preset.max_duration_seconds, preset.max_input_bytes) == (120.0, 50_000_000)
    for bad in ("max_duration_seconds = 0", "max_input_bytes = 0", "max_input_bytes = -5"):
        with pytest.raises(PresetFileError):
            parse_catalog(f'[presets.x]\nkind = "mp4"\nmax_height = 480\n{bad}\n')


def test_lossless_crf_is_refused() -> None:
    # crf 0 is lossless, which x264's High profile refuses: every job would fail, retried.
    with pytest.raises(ValidationError):
        Mp4Preset(max_height=720, crf=0)
    assert Mp4Preset(max_height=720, crf=1).crf == 1


def test_spec_hash_is_stable_and_short() -> None:
    web = builtin_catalog().presets["web-hls"]
    again = parse_catalog("", builtin_catalog()).presets["web-hls"]
    assert web.spec_hash() == again.spec_hash()
    assert len(web.spec_hash()) == 16
    assert int(web.spec_hash(), 16) >= 0
