"""CEA-608 captions carried in the video (A/53 user data in H.264), read back from a
finished package.

The encoders keep them: libx264 and NVENC write the A/53 captions each decoded frame brings
(their ``a53cc`` option is on by default), through the chain's filters. Whether a package
really has them is read from what it holds, not guessed from the input: the smallest video
rendition is joined into one file and ffmpeg's ``movie`` source decodes its caption data
(``[out0+subcc]``) to WebVTT. Cues found: the track is a sidecar like any other, and the
manifests declare the in-band captions as well (``CLOSED-CAPTIONS`` in HLS, an
``Accessibility`` descriptor in DASH). None found: nothing is declared and no track is
added. The file the ``movie`` source opens is the job's own rendition, under a name of ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.hardening import ResourceLimits
from core.jobs import Rendition
from core.packaging import Package
from core.plan import GLOBAL_FLAGS
from core.playlists import read_media, resolve
from core.ports import JobDir, LocalFiles, MediaTool
from core.steps import Subtitles
from core.subtitle_run import Sidecar
from core.subtitles import parse_vtt

JOINED = "qc/captions-rendition"  # relative to the job directory: plain characters only
CAPTIONS_VTT = "qc/captions.vtt"


def captions_argv(joined: str, demuxer: str) -> tuple[str, ...]:
    """ffmpeg: the caption data of ``joined``'s video, decoded, as WebVTT."""
    source = f"movie=filename={joined}:format_name={demuxer}[out0+subcc]"
    return ("ffmpeg", *GLOBAL_FLAGS, "-f", "lavfi", "-i", source, "-map", "0:s",
            "-c:s", "webvtt", "-f", "webvtt", f"file:{CAPTIONS_VTT}")  # fmt: skip


class CaptionReader:
    def __init__(
        self, media: MediaTool, files: LocalFiles, timeout: float, limits: ResourceLimits
    ) -> None:
        self._media = media
        self._files = files
        self._timeout = timeout
        self._limits = limits

    async def tracks(
        self, package: Package, jobdir: JobDir, steps: Sequence[tuple[int, Subtitles]]
    ) -> tuple[Sidecar, ...]:
        """A sidecar per captions step, with the cues the package's video carries (none
        when it carries none)."""
        video = [r for r in package.renditions if r.kind == "video"]
        if not steps or not video:
            return ()
        smallest = min(video, key=lambda r: (r.width or 0) * (r.height or 0))
        cmaf = package.plan.kind == "cmaf"
        joined = f"{JOINED}.{'mp4' if cmaf else 'ts'}"
        await self._join(smallest, jobdir, jobdir.root / joined)
        argv = captions_argv(joined, "mov" if cmaf else "mpegts")
        await self._media.transcode(argv, jobdir.root, self._timeout, None, self._limits)
        await self._files.remove(jobdir.root / joined)
        cues = parse_vtt(await self._files.read_text(jobdir.root / CAPTIONS_VTT))
        if not cues:
            return ()
        return tuple(Sidecar(i, step.language, cues, in_band=True) for i, step in steps)

    async def _join(self, rendition: Rendition, jobdir: JobDir, dest: Path) -> None:
        playlist = rendition.playlist
        parsed = read_media(playlist, await self._files.read_text(jobdir.out / playlist))
        init = [resolve(playlist, parsed.init)] if parsed.init else []
        parts = [*init, *(resolve(playlist, uri) for uri, _ in parsed.segments)]
        await self._files.concat([jobdir.out / p for p in parts], dest)
