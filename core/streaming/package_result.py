"""How a streaming package reads in a result: its manifests and pictures as outputs, its
renditions with their playlists' keys, the playback URLs' keys and the ladder's decisions.
The same for a preset job's package and for a steps job's encode (under its folder)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.attempt.upload import headers_for
from core.jobs.results import LadderStep, OutputFile, Produced, Rendition, output_key
from core.models import OutputLocation
from core.streaming.packaging import Package

_WHOLE_TRACK = re.compile(r"(^|/)subtitles/[A-Za-z0-9-]+\.vtt$")


@dataclass(frozen=True, slots=True)
class PackageFields:
    outputs: list[OutputFile]
    renditions: list[Rendition]
    playback: dict[str, str]  # "hls" / "dash" -> object key
    ladder: list[LadderStep]


def package_fields(
    package: Package, out: OutputLocation, job_id: str, folder: str | None = None
) -> PackageFields:
    """``folder``: the step's folder the package was written under (None: the job's own)."""
    plan = package.plan
    keyed = {p: output_key(out, job_id, f"{folder}/{p}" if folder else p) for p in package.sizes}
    manifests = [p for p in (plan.master, plan.mpd) if p]
    pictures = sorted(p for p in package.sizes if p.startswith("thumbnails/"))
    # each sidecar track's whole WebVTT file (its segments are the manifests' business)
    tracks = sorted(p for p in package.sizes if _WHOLE_TRACK.search(p))
    outputs = [
        OutputFile(
            key=keyed[p],
            role=_role(p),
            content_type=headers_for(p)[0],
            size=package.sizes[p],
            step=folder,
        )
        for p in manifests + pictures + tracks
    ]
    renditions = [
        r.model_copy(update={"playlist": keyed.get(r.playlist, r.playlist)})
        for r in package.renditions
    ]
    playback = {"hls": keyed[plan.master], **({"dash": keyed[plan.mpd]} if plan.mpd else {})}
    ladder = plan.ladder.decisions if plan.ladder else ()
    decisions = [LadderStep(rung=d.name, kept=d.kept, reason=d.reason) for d in ladder]
    return PackageFields(outputs, renditions, playback, decisions)


def _role(path: str) -> str:
    if path.endswith(".vtt") and "storyboard" not in path:
        return "subtitles"
    if path.endswith(".m3u8"):
        return "hls"
    if path.endswith(".mpd"):
        return "dash"
    if "storyboard" in path:
        return "storyboard"
    return "poster" if path.endswith("poster.jpg") else "thumbnail"


def package_produced(package: Package, out: OutputLocation, job_id: str) -> Produced:
    """A streaming package as a job's result reads it (a whole encode's, a stitched one's)."""
    fields = package_fields(package, out, job_id)
    plan = package.plan
    return Produced(
        outputs=fields.outputs, encoder=plan.encoder, renditions=fields.renditions,
        playback=fields.playback, qc=package.qc, notes=list(plan.notes), ladder=fields.ladder,
        loudness=package.loudness,
    )  # fmt: skip
