"""The progressive side of one attempt (``progressive: true`` on the request or its streaming
preset): the sink that publishes the package while it encodes
(:class:`core.streaming.progressive_sink.ProgressiveSink`), its ``job.playable`` said through
the attempt's reporter, and what a failure leaves.

A job that fails after it was announced playable keeps what it published: its segments are
not withdrawn (a player may be playing them), its playlists stay ``EVENT`` without
``ENDLIST`` and its master and MPD are marked failed, and its error says
``details.package = "partial"`` (``job.failed`` carries it as ``package``). Unless another
attempt committed the job meanwhile: then its package stands, untouched. A failure before
playable withdraws what the sink put, as the segments are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import structlog

from core.attempt.upload import UploadAhead
from core.errors import FfapiError, as_ffapi_error
from core.events.playable import PARTIAL, PlayableNotice
from core.jobs.results import output_key
from core.models import JobRequest
from core.ports import LocalFiles, ObjectStore
from core.presets import OutputPreset, StreamingPreset
from core.streaming.progressive_sink import GrowingLayout, ProgressiveSink

log = structlog.get_logger("ffapi.pipeline")


def is_progressive(request: JobRequest, preset: OutputPreset) -> bool:
    """A streaming preset's package, published as it encodes when the request or the preset
    asks (an MP4 or a steps job has no growing form: the flag is moot there)."""
    return isinstance(preset, StreamingPreset) and (request.progressive or preset.progressive)


def progressive_sink(
    objects: ObjectStore, files: LocalFiles, request: JobRequest, preset: OutputPreset,
    local: Path, job_id: str, ahead: UploadAhead, report: Callable[[PlayableNotice], None] | None,
    started_at: datetime, now: Callable[[], datetime],
) -> ProgressiveSink | None:  # fmt: skip
    """The sink of a progressive job (None for any other); ``started_at``: the attempt's."""
    if not isinstance(preset, StreamingPreset) or not is_progressive(request, preset):
        return None
    out = request.output
    assert out is not None, "intake fills in the output location"
    layout = GrowingLayout.of(preset)
    playback = {kind: output_key(out, job_id, path) for kind, path in layout.playback.items()}

    def playable() -> None:
        seconds = (now() - started_at).total_seconds()
        log.info("job.playable", seconds=round(seconds, 3))
        if report is not None:
            report(PlayableNotice(output=out, playback=playback, seconds=seconds))

    return ProgressiveSink(objects, files, ahead, local, out, job_id, layout, playable, now)


async def after_failure(
    sink: ProgressiveSink, ahead: UploadAhead, error: Exception,
    committed: Callable[[], Awaitable[object | None]],
) -> FfapiError | None:  # fmt: skip
    """What a progressive job's failure leaves. Playable: the package is kept and marked
    failed; the error returned, marked partial, is the job's. ``committed``: the job's
    committed result, None while there is none. Not yet playable: what the sink
    put is withdrawn; None (the segments are withdrawn by the caller, as for any job)."""
    try:
        if not sink.playable:
            await sink.withdraw()
            return None
        await ahead.halt()  # what is under way stops; nothing is deleted
        if await committed() is None:  # else another attempt's package stands: untouched
            await sink.mark_failed()
    except Exception as exc:  # the job's own error stands; the package stays as it was
        log.warning("job.mark_failed_failed", error=type(exc).__name__)
    coded = as_ffapi_error(error)
    coded.details = {**(coded.details or {}), "package": PARTIAL}
    return coded
