"""A two-language package with English subtitles, made from the worker's one-audio package by
rewriting its manifests only: the second audio rendition ("fr") names the same segments as the
first ("en"), and the subtitles are one WebVTT file. It checks the harness itself: that it
reports several audio and text tracks and a working audio switch, as the players list them.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import m3u8

MPD_NS = "urn:mpeg:dash:schema:mpd:2011"
SUBTITLES = """WEBVTT

00:00:00.000 --> 00:00:05.000
A line of subtitles.
"""


def two_language_package(package: Path, dest: Path) -> Path:
    shutil.copytree(package, dest)
    (dest / "subs-en.vtt").write_text(SUBTITLES, encoding="utf-8")
    _rewrite_hls(dest)
    _rewrite_dash(dest / "manifest.mpd")
    return dest


def _rewrite_hls(dest: Path) -> None:
    master = m3u8.load(str(dest / "master.m3u8"))
    variant, audio_uri = master.playlists[0], str(master.media[0].uri)
    video_uri = str(variant.uri)
    segments = m3u8.load(str(dest / video_uri)).segments
    duration = sum(float(seg.duration or 0.0) for seg in segments)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        *(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",LANGUAGE="{lang}",NAME="{name}",'
            f'DEFAULT={default},AUTOSELECT=YES,CHANNELS="2",URI="{audio_uri}"'
            for lang, name, default in (("en", "English", "YES"), ("fr", "Français", "NO"))
        ),
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="s",LANGUAGE="en",NAME="English",'
        'DEFAULT=NO,AUTOSELECT=YES,URI="subs-en.m3u8"',
        f"#EXT-X-STREAM-INF:BANDWIDTH={variant.stream_info.bandwidth},"
        f'CODECS="{variant.stream_info.codecs}",AUDIO="a",SUBTITLES="s"',
        video_uri,
    ]
    (dest / "master.m3u8").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (dest / "subs-en.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:"
        f"{int(duration) + 1}\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        f"#EXTINF:{duration:.3f},\nsubs-en.vtt\n#EXT-X-ENDLIST\n",
        encoding="utf-8",
    )


def _rewrite_dash(mpd: Path) -> None:
    ET.register_namespace("", MPD_NS)
    tree = ET.parse(mpd)
    period = tree.getroot().find(f"{{{MPD_NS}}}Period")
    assert period is not None
    audio = next(a for a in period if a.get("contentType") == "audio")
    # The copy names the same files as the original: no $RepresentationID$ in its template.
    rep = audio.find(f"{{{MPD_NS}}}Representation")
    assert rep is not None
    for template in audio.iter(f"{{{MPD_NS}}}SegmentTemplate"):
        for attr in ("initialization", "media"):
            template.set(
                attr, template.get(attr, "").replace("$RepresentationID$", rep.get("id", ""))
            )
    french = ET.fromstring(ET.tostring(audio))
    audio.set("lang", "en")
    french.set("id", "20")
    french.set("lang", "fr")
    for r in french.iter(f"{{{MPD_NS}}}Representation"):
        r.set("id", "fr-" + r.get("id", ""))
    period.append(french)
    period.append(_text_set())
    tree.write(mpd, encoding="utf-8", xml_declaration=True)


def _text_set() -> ET.Element:
    attrs = {"id": "30", "contentType": "text", "mimeType": "text/vtt", "lang": "en"}
    text = ET.Element(f"{{{MPD_NS}}}AdaptationSet", attrs)
    role = {"schemeIdUri": "urn:mpeg:dash:role:2011", "value": "subtitle"}
    ET.SubElement(text, f"{{{MPD_NS}}}Role", role)
    rep = ET.SubElement(text, f"{{{MPD_NS}}}Representation", {"id": "subs-en", "bandwidth": "256"})
    ET.SubElement(rep, f"{{{MPD_NS}}}BaseURL").text = "subs-en.vtt"
    return text
