"""core.media.probe_doc: ffprobe's JSON as the typed ProbeDoc. A value of the wrong type is ignored
as an absent one is (never a ValidationError), a stream that is no object is dropped, only a
document that is no object is refused (InvalidMedia), and fields it does not type are kept."""

from __future__ import annotations

import contextlib
import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidMedia
from core.media.probe import parse_probe, public_probe
from core.media.probe_doc import ProbeStream, probe_doc
from core.text.subtitle_files import subtitle_probe
from tests.unit.ffprobe_docs import AAC_STREAM, DISPLAY_MATRIX, H264_STREAM, mp4_doc


@pytest.mark.parametrize("value", [[], "{}", None, 3, [{"streams": []}]])
def test_a_document_that_is_no_object_is_invalid_media(value: object) -> None:
    with pytest.raises(InvalidMedia) as info:
        probe_doc(value)
    assert (info.value.code, info.value.retryable) == ("invalid_media", False)


def test_fields_of_the_wrong_type_read_as_absent() -> None:
    doc = probe_doc(
        mp4_doc(
            video={
                "width": "N/A",
                "index": [0],
                "tags": "rotate=90",
                "disposition": "yes",
                "side_data_list": {"rotation": 90},
                "pix_fmt": {"name": "yuv420p"},
            },
            audio={"channels": "two", "tags": {"language": ["fra"]}},
        )
    )
    video, audio = doc.streams
    assert (video.width, video.index, video.tags, video.disposition) == (None, None, None, None)
    assert (video.side_data_list, video.pix_fmt) == ([], None)
    assert (audio.channels, audio.tags) == (None, None)
    assert video.height == 1080  # the rest of the stream is read


def test_numbers_where_ffprobe_prints_strings_are_read_as_their_text() -> None:
    doc = probe_doc(mp4_doc(video={"codec_type": 7, "duration": 12.5, "nb_frames": 300}))
    assert (doc.streams[0].codec_type, doc.streams[0].duration) == ("7", "12.5")
    assert doc.streams[0].nb_frames == "300"


def test_entries_that_are_no_object_are_dropped() -> None:
    raw = mp4_doc(
        video={"side_data_list": ["Display Matrix", 7, {**DISPLAY_MATRIX, "rotation": -90}]}
    )
    raw["streams"].insert(0, "not a stream")
    doc = probe_doc(raw)
    assert [s.codec_type for s in doc.streams] == ["video", "audio"]
    assert doc.streams[0].side_data_list is not None
    assert [s.rotation for s in doc.streams[0].side_data_list] == [-90]
    assert probe_doc({"streams": "many", "format": ["mp4"]}).streams == []


def test_a_hostile_stream_is_ignored_where_it_used_to_crash_the_parser() -> None:
    # Tags or dispositions that are no objects, and rotations that are no number or none a
    # float can hold, read as absent: the picture is the stream's 1920x1080, unrotated.
    raw = mp4_doc(
        video={
            "tags": "x",
            "disposition": 1,
            "side_data_list": [{"rotation": "ninety"}, {"rotation": 10**400}],
        },
        audio={"tags": ["language", "fra"], "disposition": {"default": "yes"}},
    )
    result = parse_probe(probe_doc(raw))
    assert result.video is not None
    assert (result.video.rotation, result.video.display_size) == (0, (1920, 1080))
    assert result.audio is not None
    assert (result.audio.language, result.audio.default) == (None, False)


def test_fields_it_does_not_type_are_kept_as_printed() -> None:
    doc = probe_doc(mp4_doc())
    video = doc.streams[0]
    assert video.model_extra is not None
    assert video.model_extra["codec_long_name"] == H264_STREAM["codec_long_name"]
    assert video.model_extra["time_base"] == "1/15360"
    assert video.disposition is not None
    assert video.disposition.model_extra == {
        k: v
        for k, v in H264_STREAM["disposition"].items()
        if k not in ("default", "comment", "visual_impaired", "attached_pic")
    }
    assert doc.model_dump(exclude_unset=True) == mp4_doc()


def test_a_malformed_field_is_published_as_absent_not_as_sent() -> None:
    # ffprobe prints each field with one type; a value of another (a hand-made document)
    # is not echoed into probe.json.
    audio = copy.deepcopy(AAC_STREAM)
    audio["channels"] = "<script>"
    public = public_probe(probe_doc({"streams": [audio], "format": {}}))
    assert public["streams"] == [{**audio, "channels": None, "tags": {"language": "und"}}]


# Values ffprobe prints (and the parsers look for) among any JSON at all.
_PRINTED = st.sampled_from(["video", "audio", "subtitle", "subrip", "N/A", "30/1", "1:1", "und"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | _PRINTED,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_KEYS = st.sampled_from([*ProbeStream.model_fields, "rotation", "language", "attached_pic"])
_ENTRY = st.dictionaries(_KEYS, _JSON, max_size=4)  # a disposition, tags, a side data entry
_FIELDS = st.dictionaries(_KEYS, _JSON | _ENTRY | st.lists(_ENTRY, max_size=2), max_size=8)


@given(streams=st.lists(_FIELDS | _JSON, max_size=3), fmt=_FIELDS | _JSON)
def test_no_document_crashes_the_readers(streams: list[object], fmt: object) -> None:
    """Whatever a document holds, reading it ends in a result or a coded InvalidMedia."""
    doc = probe_doc({"streams": streams, "format": fmt})
    json.dumps(public_probe(doc))
    for read in (parse_probe, subtitle_probe):
        with contextlib.suppress(InvalidMedia):  # anything else fails the test
            read(doc)
