"""What one job attempt may use and how often it reports: the pipeline's limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core.events.progress import EncodeProgress, ProgressThrottle, ProgressUpdate
from core.media.hardening import NO_LIMITS, ResourceLimits
from core.media.preflight import MediaLimits


@dataclass(frozen=True, slots=True)
class PipelineLimits:
    transcode_timeout: float
    media: MediaLimits = field(default_factory=MediaLimits)  # what an upload may be
    resources: ResourceLimits = NO_LIMITS  # what one ffmpeg process may use
    upload_concurrency: int = 8
    progress_interval: float = 5.0  # seconds between progress updates, at least
    progress_step: float = 5.0  # percent between progress updates, at least
    encoders: frozenset[str] | None = None  # the ffmpeg build's (None: not known, not checked)

    def progress(
        self, total: float, report: Callable[[ProgressUpdate], None] | None,
        clock: Callable[[], float],
    ) -> Callable[[EncodeProgress], None] | None:  # fmt: skip
        """ffmpeg's reports, throttled, to ``report``; ``total``: the seconds of work (the
        picture's length, or the file's for audio alone; a steps job's passes together)."""
        if report is None:
            return None
        throttle = ProgressThrottle(total, self.progress_interval, self.progress_step, clock)

        def offer(progress: EncodeProgress) -> None:
            if (update := throttle.offer(progress)) is not None:
                report(update)

        return offer
