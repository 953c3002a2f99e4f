"""Where a new attempt starts (core.attempt.resume): nothing kept without an earlier ledger,
under another fingerprint, with no row, or with no row left in the bucket; else the whole
rows the bucket still holds at their sizes, with the boundary where the next row starts.
Hypothesis: whatever the bucket lost, the rows kept are exactly the leading ones present."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from core.attempt.ledger import LedgerSegment, PlaylistLedger, SegmentLedger
from core.attempt.resume import resume_point
from core.ports import ObjectListing

FP = "fp-1"
PREFIX = "outputs/j-1/"
WHEN = datetime(2026, 12, 7, tzinfo=UTC)


def ledger(counts: tuple[int, ...] = (5, 5, 4), fingerprint: str = FP) -> SegmentLedger:
    """Video rungs of 4 s segments (the 4th one 4.004 s), then an audio playlist whose rows
    end within an audio frame of theirs."""
    lists = []
    for rung, count in enumerate(counts):
        audio = rung == len(counts) - 1
        segments = tuple(
            LedgerSegment(
                f"cmaf/seg-{rung}-{k + 1:05d}.m4s",
                (3_989_000 if audio else 4_000_000) + (4_000 if k == 3 else 0),
                10_000 * (rung + 1) + k,
            )
            for k in range(count)
        )
        lists.append(PlaylistLedger(f"cmaf/media_{rung}.m3u8", f"cmaf/init-{rung}.m4s", segments))
    return SegmentLedger(fingerprint, tuple(lists))


def listing(of: SegmentLedger, *, prefix: str = PREFIX) -> list[ObjectListing]:
    """The bucket as the ledger says, with the playlists and init segments beside them."""
    objects = [ObjectListing(f"{prefix}cmaf/master.m3u8", 10, WHEN)]
    for p in of.playlists:
        objects.append(ObjectListing(f"{prefix}{p.init}", 800, WHEN))
        objects += [ObjectListing(f"{prefix}{s.path}", s.size, WHEN) for s in p.segments]
    return objects


def without(objects: list[ObjectListing], path: str) -> list[ObjectListing]:
    return [o for o in objects if o.key != PREFIX + path]


def test_nothing_is_kept_without_an_earlier_ledger_or_a_row() -> None:
    assert resume_point(None, FP, [], PREFIX) is None
    assert resume_point(SegmentLedger(FP), FP, [], PREFIX) is None
    empty_audio = ledger((3, 3, 0))
    assert resume_point(empty_audio, FP, listing(empty_audio), PREFIX) is None


def test_segments_of_another_encode_are_not_kept() -> None:
    other = ledger(fingerprint="fp-on-the-gpu")
    assert resume_point(other, FP, listing(other), PREFIX) is None


def test_the_rows_every_playlist_has_in_the_bucket_are_kept() -> None:
    previous = ledger()
    point = resume_point(previous, FP, listing(previous), PREFIX)
    assert point is not None
    assert point.rows == 4  # the audio playlist has 4
    assert point.ledger == previous.head(4)
    assert point.boundary == 16.004  # the first playlist's: where its 5th segment starts
    assert point.starts == {
        "cmaf/media_0.m3u8": 16.004, "cmaf/media_1.m3u8": 16.004, "cmaf/media_2.m3u8": 15.96,
    }  # fmt: skip
    assert len(point.kept_paths()) == 12
    assert point.kept_paths()[0] == "cmaf/seg-0-00001.m4s"


def test_a_segment_missing_from_the_bucket_ends_the_rows_kept() -> None:
    previous = ledger()
    point = resume_point(previous, FP, without(listing(previous), "cmaf/seg-1-00003.m4s"), PREFIX)
    assert point is not None
    assert point.rows == 2
    assert resume_point(previous, FP, [], PREFIX) is None  # withdrawn: nothing left
    first_gone = without(listing(previous), "cmaf/seg-2-00001.m4s")
    assert resume_point(previous, FP, first_gone, PREFIX) is None


def test_a_segment_of_another_size_ends_the_rows_kept() -> None:
    previous = ledger()
    objects = [
        ObjectListing(o.key, o.size + 1, WHEN) if o.key.endswith("seg-0-00004.m4s") else o
        for o in listing(previous)
    ]
    point = resume_point(previous, FP, objects, PREFIX)
    assert point is not None
    assert point.rows == 3


def test_objects_under_another_prefix_are_not_this_jobs() -> None:
    previous = ledger()
    elsewhere = listing(previous, prefix="outputs/j-2/")
    assert resume_point(previous, FP, elsewhere, PREFIX) is None


@given(
    st.lists(st.integers(0, 8), min_size=1, max_size=4),
    st.sets(st.tuples(st.integers(0, 3), st.integers(0, 8)), max_size=6),
)
def test_the_rows_kept_are_the_leading_ones_present(
    counts: list[int], lost: set[tuple[int, int]]
) -> None:
    previous = ledger(tuple(counts))
    gone = {f"cmaf/seg-{rung}-{k + 1:05d}.m4s" for rung, k in lost}
    objects = [o for o in listing(previous) if o.key.removeprefix(PREFIX) not in gone]
    expected = min(
        next((k for k in range(count) if (rung, k) in lost), count)
        for rung, count in enumerate(counts)
    )
    point = resume_point(previous, FP, objects, PREFIX)
    if expected == 0:
        assert point is None
        return
    assert point is not None
    assert point.rows == expected
    assert all(len(p.segments) == expected for p in point.ledger.playlists)
    assert all(PREFIX + path in {o.key for o in objects} for path in point.kept_paths())
