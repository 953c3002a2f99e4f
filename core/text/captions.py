"""Captions carried in the video (A/53 user data in H.264: CEA-608 and CEA-708), read back
from a finished package.

The encoders keep them: libx264 and NVENC write the A/53 caption data each decoded frame
brings (their ``a53cc`` option is on by default; the whole ``cc_data``, CEA-608 pairs and
CEA-708 DTVCC packets alike), through the chain's filters. Whether a package really has
them is read from what it holds, not guessed from the input: the smallest video rendition
is joined into one file and one ffmpeg run over ffmpeg's ``movie`` source (``[out0+subcc]``)
writes its caption data decoded (CEA-608 CC1) to WebVTT, and as the raw ``cc_data``
triplets with each frame's time (``framemd5``), which :mod:`core.text.cc_data` reads for the
CEA-708 services and :mod:`core.text.cea708_text` decodes (ffmpeg 5.1 has no CEA-708 decoder).
Captions found: the manifests declare them (``CLOSED-CAPTIONS`` in HLS, an
``Accessibility`` descriptor in DASH), and their cues, where there are any, are a sidecar
track like any other. Nothing found: nothing is declared. The file the ``movie`` source
opens is the job's own rendition, under a name of ours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import FfapiError
from core.jobs.results import Rendition
from core.media.plan import GLOBAL_FLAGS
from core.ports import JobDir
from core.steps.model import Subtitles
from core.streaming.packaging import Package
from core.streaming.playlists import read_media, resolve
from core.text.cc_data import CcFrame, cc_frames, read_cc_data
from core.text.cea708_text import service_text
from core.text.subtitle_manifests import InBandCaption
from core.text.subtitle_run import Sidecar, TextTools
from core.text.subtitles import Cue, parse_vtt

JOINED = "qc/captions-rendition"  # relative to the job directory: plain characters only
CAPTIONS_VTT = "qc/captions.vtt"
CAPTIONS_CC = "qc/captions.cc"  # the raw cc_data triplets, frame after frame
CAPTIONS_FRAMES = "qc/captions.frames"  # the same packets' times and sizes (framemd5)


def captions_argv(joined: str, demuxer: str) -> tuple[str, ...]:
    """ffmpeg: the caption data of ``joined``'s video, decoded as WebVTT (CEA-608 CC1), and
    as it is (the ``subcc`` stream's packets are each frame's ``cc_data`` triplets), with
    each packet's time and size listed by the ``framemd5`` muxer."""
    source = f"movie=filename={joined}:format_name={demuxer}[out0+subcc]"
    return ("ffmpeg", *GLOBAL_FLAGS, "-f", "lavfi", "-i", source,
            "-map", "0:s", "-c:s", "webvtt", "-f", "webvtt", f"file:{CAPTIONS_VTT}",
            "-map", "0:s", "-c:s", "copy", "-f", "data", f"file:{CAPTIONS_CC}",
            "-map", "0:s", "-c:s", "copy", "-f", "framemd5", f"file:{CAPTIONS_FRAMES}")  # fmt: skip


@dataclass(frozen=True, slots=True)
class FoundCaptions:
    """What a package's video carries, for the steps that asked: the tracks (CEA-608 CC1,
    CEA-708 services with text), and the captions the manifests declare."""

    sidecars: tuple[Sidecar, ...] = ()
    declared: tuple[InBandCaption, ...] = ()


def found_captions(
    steps: Sequence[tuple[int, Subtitles]], cues: tuple[Cue, ...], raw: bytes, listing: str
) -> FoundCaptions:
    """Each step's captions where the video has them (CEA-608: ``cues``, ffmpeg's; CEA-708:
    read from the ``raw`` cc_data and its ``listing``); each declared once."""
    carried = read_cc_data(raw)
    frames = cc_frames(raw, listing) if carried.services else []
    sidecars: list[Sidecar] = []
    declared: dict[tuple[str, int], InBandCaption] = {}
    for i, step in steps:
        if step.captions == "cea-708" and step.service_number in carried.services:
            text = _service_text(i, frames, step.service_number)
            sidecars += [Sidecar(i, step.language, text)] if text else []
            mark = InBandCaption("cea-708", step.service_number, step.language)
        elif step.captions == "cea-608" and cues:
            sidecars.append(Sidecar(i, step.language, cues))
            mark = InBandCaption("cea-608", 1, step.language)
        else:
            continue
        declared.setdefault((mark.standard, mark.number), mark)
    return FoundCaptions(tuple(sidecars), tuple(declared.values()))


def _service_text(i: int, frames: Sequence[CcFrame], service: int) -> tuple[Cue, ...]:
    try:
        return service_text(frames, service)
    except FfapiError as exc:
        raise exc.at(f"steps[{i}].service") from None


class CaptionReader:
    def __init__(self, tools: TextTools) -> None:
        self._media = tools.media
        self._files = tools.files
        self._timeout = tools.timeout
        self._limits = tools.limits

    async def read(
        self, package: Package, jobdir: JobDir, steps: Sequence[tuple[int, Subtitles]]
    ) -> FoundCaptions:
        """The captions steps' tracks and declarations, from what the package's video
        carries (nothing when it carries none)."""
        video = [r for r in package.renditions if r.kind == "video"]
        if not steps or not video:
            return FoundCaptions()
        smallest = min(video, key=lambda r: (r.width or 0) * (r.height or 0))
        cmaf = package.plan.kind == "cmaf"
        joined = f"{JOINED}.{'mp4' if cmaf else 'ts'}"
        await self._join(smallest, jobdir, jobdir.root / joined)
        argv = captions_argv(joined, "mov" if cmaf else "mpegts")
        await self._media.transcode(argv, jobdir.root, self._timeout, None, self._limits)
        await self._files.remove(jobdir.root / joined)
        cues = parse_vtt(await self._files.read_text(jobdir.root / CAPTIONS_VTT))
        raw = await self._files.read_bytes(jobdir.root / CAPTIONS_CC)
        listing = await self._files.read_text(jobdir.root / CAPTIONS_FRAMES)
        # a pure reading, but hours of caption data take a while: off the event loop
        return await asyncio.to_thread(found_captions, steps, cues, raw, listing)

    async def _join(self, rendition: Rendition, jobdir: JobDir, dest: Path) -> None:
        playlist = rendition.playlist
        parsed = read_media(playlist, await self._files.read_text(jobdir.out / playlist))
        init = [resolve(playlist, parsed.init)] if parsed.init else []
        parts = [*init, *(resolve(playlist, uri) for uri, _ in parsed.segments)]
        await self._files.concat([jobdir.out / p for p in parts], dest)
