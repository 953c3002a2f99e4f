"""CEA-708 captions steps: the step's rules, which captions a package's video declares, and
how the manifests name them (HLS CLOSED-CAPTIONS SERVICEn, DASH cea-708 Accessibility)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

import m3u8
import pytest
from pydantic import ValidationError

from core.models import JobRequest
from core.steps.model import Subtitles
from core.text.captions import found_captions
from core.text.subtitle_manifests import InBandCaption, master_with_captions, mpd_with_captions
from core.text.subtitles import Cue
from tests.unit.test_subtitles import MASTER, MPD

_DASH = "{urn:mpeg:dash:schema:mpd:2011}"
ENCODE = {"op": "encode", "preset": "web-hls"}
CC608 = {"op": "subtitles", "captions": "cea-608", "language": "eng"}
CC708 = {"op": "subtitles", "captions": "cea-708", "language": "eng"}


def _request(*steps: Mapping[str, object]) -> JobRequest:
    return JobRequest.model_validate(
        {
            "version": 2,
            "input": {"bucket": "ffapi-input", "key": "a.mp4"},
            "steps": list(steps),
            "output": {"bucket": "ffapi-output", "prefix": "o"},
        }
    )


def _step(request: JobRequest, i: int = 0) -> Subtitles:
    assert request.steps is not None
    step = request.steps[i]
    assert isinstance(step, Subtitles)
    return step


def test_a_708_step_reads_service_1_unless_it_names_one() -> None:
    assert _step(_request(CC708, ENCODE)).service_number == 1
    assert _step(_request({**CC708, "service": 63}, ENCODE)).service_number == 63


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ({**CC708, "service": 0}, r"steps\.0\.subtitles\.service"),
        ({**CC708, "service": 64}, r"steps\.0\.subtitles\.service"),
        ({**CC708, "service": "2"}, r"steps\.0\.subtitles\.service"),
        ({**CC608, "service": 1}, 'service: a CEA-708 service, only with captions "cea-708"'),
        (
            {"op": "subtitles", "source": {"key": "a.srt"}, "language": "eng", "service": 2},
            "service: a CEA-708 service",
        ),
        ({**CC708, "mode": "burn"}, "sidecar only"),
        ({**CC708, "captions": "cea-709"}, r"steps\.0\.subtitles\.captions"),
    ],
)
def test_a_bad_captions_step_is_refused(step: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        _request(step, ENCODE)


def test_a_service_is_read_once_and_a_language_is_one_track() -> None:
    with pytest.raises(ValidationError, match=r"steps\[1\] \(subtitles\)\.service: a second"):
        _request({**CC708, "service": 2}, {**CC708, "service": 2, "language": "fra"}, ENCODE)
    with pytest.raises(ValidationError, match=r"steps\[1\] \(subtitles\)\.language: a second"):
        _request(CC608, CC708, ENCODE)
    request = _request(
        CC608, {**CC708, "language": "fra"}, {**CC708, "service": 2, "language": "deu"}, ENCODE
    )
    assert [_step(request, i).service_number for i in range(3)] == [1, 1, 2]


# service 1: a visible window with "HI" at 0 s, cleared at 0.4 s; service 9 (extended): a NUL
_SVC1 = [
    bytes([0xFF, 0x06, 0x2A, 0xFE, 0x98, 0x38, 0xFE, 0, 0, 0xFE, 0, 0x1F, 0xFE, 0x09, 0x48,
           0xFE, 0x49, 0x00]),
    b"",
    bytes([0xFF, 0x02, 0x22, 0xFE, 0x88, 0x01]),
]  # fmt: skip
_SVC9 = bytes([0xFF, 0x02, 0xE1, 0xFE, 0x09, 0x00])
RAW = _SVC1[0] + _SVC9 + _SVC1[2]
LISTING = "#tb 0: 1/10\n0, 0, 0, 0, 24, x\n0, 2, 2, 0, 0, x\n0, 4, 4, 0, 6, x\n"


def test_only_captions_the_video_carries_are_declared() -> None:
    steps = [
        (0, _step(_request(CC608, ENCODE))),
        (1, _step(_request({**CC708, "language": "fra"}, ENCODE))),
        (2, _step(_request({**CC708, "service": 9}, ENCODE))),
    ]
    cue = (Cue(1.0, 2.0, "HI"),)
    found = found_captions(steps, (), RAW, LISTING)
    assert [(s.index, s.language, s.cues) for s in found.sidecars] == [
        (1, "fra", (Cue(0.0, 0.4, "HI"),))
    ]
    assert found.declared == (InBandCaption("cea-708", 1, "fra"),)
    found = found_captions(steps, cue, b"", "")
    assert [s.index for s in found.sidecars] == [0]
    assert found.declared == (InBandCaption("cea-608", 1, "eng"),)


SERVICES = [
    InBandCaption("cea-608", 1, "eng"),
    InBandCaption("cea-708", 1, "eng"),
    InBandCaption("cea-708", 12, "pt-BR"),
]


def test_708_services_join_the_caption_group_on_every_variant() -> None:
    text = master_with_captions(MASTER, SERVICES)
    doc = m3u8.loads(text)
    cc = [
        (m.group_id, m.instream_id, m.language, m.uri)
        for m in doc.media
        if m.type == "CLOSED-CAPTIONS"
    ]
    assert cc == [
        ("cc", "CC1", "eng", None),
        ("cc", "SERVICE1", "eng", None),
        ("cc", "SERVICE12", "pt-BR", None),
    ]
    assert len({m.name for m in doc.media}) == len(doc.media)  # names unique in the group
    assert text.count('CLOSED-CAPTIONS="cc"') == len(doc.playlists) == 2


def test_708_services_are_one_accessibility_mark_per_video_set() -> None:
    root = ET.fromstring(mpd_with_captions(MPD, SERVICES[1:]))
    (video,) = [a for a in root.iter(f"{_DASH}AdaptationSet") if a.get("contentType") == "video"]
    marks = [(m.get("schemeIdUri"), m.get("value")) for m in video.iter(f"{_DASH}Accessibility")]
    assert marks == [("urn:scte:dash:cc:cea-708:2015", "1=lang:eng;12=lang:pt-BR")]
    both = ET.fromstring(mpd_with_captions(MPD, SERVICES))
    schemes = [m.get("schemeIdUri") for m in both.iter(f"{_DASH}Accessibility")]
    assert schemes == ["urn:scte:dash:cc:cea-608:2015", "urn:scte:dash:cc:cea-708:2015"]
