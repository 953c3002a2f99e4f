"""Reading back what ffmpeg wrote, before anything is published.

An MP4 job's outputs are probed: one that does not read back is our failure
(``transcode_failed``), never the input's; one ffmpeg left unwritten after exiting 0 got no
frame, so the input's picture decodes to nothing (``invalid_media``).
"""

from __future__ import annotations

from core.errors import InvalidMedia, TranscodeFailed
from core.jobs.results import OutputFile, output_key
from core.media.hardening import OUTPUT_GUARD
from core.media.plan import TranscodePlan
from core.media.probe import parse_probe
from core.models import OutputLocation
from core.ports import JobDir, LocalFiles, MediaTool


async def verify_mp4(
    media: MediaTool,
    files: LocalFiles,
    plan: TranscodePlan,
    jobdir: JobDir,
    out: OutputLocation,
    job_id: str,
) -> list[OutputFile]:
    """Probe every output before anything is published: each must open as what it claims
    to be (ffprobe reads headers; it does not decode), and its size and duration go into
    the result."""
    written = await files.sizes(jobdir.out)
    found = []
    for planned in plan.outputs:
        if planned.name not in written:
            # ffmpeg succeeded, so no frame reached this output (the poster takes the
            # last frame when the picture ends before its time): a picture that decodes
            # to nothing. The same input would again.
            raise InvalidMedia(
                f"no frame of the input's picture reached {planned.name}: not one frame "
                "of it decodes"
            )
        try:
            doc = await media.probe(jobdir.out / planned.name, OUTPUT_GUARD)
            info = parse_probe(doc, still=planned.role == "poster")
        except InvalidMedia as exc:  # our output, not the user's input, is at fault
            raise TranscodeFailed(f"{planned.name} is unreadable: {exc.message}") from exc
        if planned.role == "video" and info.duration <= 0:
            raise TranscodeFailed(f"{planned.name} has no duration")
        found.append(
            OutputFile(
                key=output_key(out, job_id, planned.name),
                role=planned.role,
                content_type=planned.content_type,
                size=info.size or 0,
                duration=info.duration if planned.role == "video" else None,
                width=info.video.width if info.video else None,
                height=info.video.height if info.video else None,
                encoder=plan.encoder if planned.role == "video" else None,
            )
        )
    return found
