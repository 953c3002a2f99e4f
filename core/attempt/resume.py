"""Where a new attempt of a job starts: from the first segment, or from the last complete
segment boundary an earlier attempt left in the bucket.

The job record carries the previous attempt's segment ledger (:mod:`core.attempt.ledger`;
the claim hands it over). Its segments are kept only when they are worth keeping and are
really there:

- made by the same encode: the ledger's fingerprint is this attempt's plan's (same preset
  settings, same accelerator tier and encoder), else nothing is kept;
- in the bucket: each playlist's segments are kept up to the first one missing from the
  listing of the job's output prefix, or there under another size (a failed attempt's
  withdrawal, an operator, a lifecycle rule, or a later attempt's overwrite);
- whole rows: the rows kept are the leading segment numbers every playlist still has.

No row left: None, and the attempt encodes from the start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.attempt.ledger import PlaylistLedger, SegmentLedger
from core.ports import ObjectListing


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """What a resumed attempt keeps, and where its encode starts."""

    ledger: SegmentLedger  # the kept rows of every playlist (this attempt's ledger to start)
    rows: int  # the segments kept in each playlist: the encode's first is number ``rows``
    boundary: float  # seconds: where row ``rows`` starts, in the first playlist
    # each playlist's own boundary, in seconds: the rungs' agree, an audio playlist's may
    # differ by part of an audio frame
    starts: Mapping[str, float]

    def kept_paths(self) -> tuple[str, ...]:
        """The kept segments, relative to the job's output directory: objects the attempt
        publishes without making them (a commit's prune must keep them)."""
        return tuple(s.path for p in self.ledger.playlists for s in p.segments)


def resume_point(
    previous: SegmentLedger | None,
    fingerprint: str,
    listing: Iterable[ObjectListing],
    prefix: str,
) -> ResumePoint | None:
    """The point a new attempt resumes from, or None to encode from the start.

    ``previous``: the ledger on the job's record when this attempt claimed it.
    ``fingerprint``: this attempt's :func:`core.attempt.ledger.plan_fingerprint`.
    ``listing``: ``ObjectStore.list_objects`` of ``prefix``, the job's output prefix
    (``output_key(output, job_id, "")``: a segment's key is ``prefix + path``)."""
    if previous is None or previous.fingerprint != fingerprint or previous.rows == 0:
        return None
    sizes = {o.key.removeprefix(prefix): o.size for o in listing if o.key.startswith(prefix)}
    rows = min(_present(p, sizes) for p in previous.playlists)
    if rows == 0:
        return None
    kept = previous.head(rows)
    starts = {p.playlist: p.start_us(rows) / 1_000_000 for p in kept.playlists}
    return ResumePoint(kept, rows, kept.boundary_us() / 1_000_000, starts)


def _present(playlist: PlaylistLedger, sizes: Mapping[str, int]) -> int:
    """How many of the playlist's leading segments the bucket holds, each at its size."""
    for count, segment in enumerate(playlist.segments):
        if sizes.get(segment.path) != segment.size:
            return count
    return len(playlist.segments)
