"""The segment ledger (core.attempt.ledger): rows and boundary, the stored encoding (read back
whole, numbered paths said once, listed ones kept, a corrupt one refused, a two-hour film in
seven playlists far under a DynamoDB item's 400 KB) and the plan fingerprint (paths left
out; settings, tier and encoder in)."""

from __future__ import annotations

import random
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.attempt.ledger import LedgerSegment, PlaylistLedger, SegmentLedger, plan_fingerprint
from core.attempt.ledger_codec import (
    MAX_LEDGER_BYTES,
    LedgerUnreadable,
    decode_ledger,
    encode_ledger,
)

FP = "f" * 24


def playlist(n: int, count: int, duration_us: int = 4_000_000, first: int = 1) -> PlaylistLedger:
    segments = tuple(
        LedgerSegment(f"cmaf/seg-{n}-{first + k:05d}.m4s", duration_us, 1000 + k)
        for k in range(count)
    )
    return PlaylistLedger(f"cmaf/media_{n}.m3u8", f"cmaf/init-{n}.m4s", segments)


def test_the_rows_are_the_segment_numbers_every_playlist_has() -> None:
    ledger = SegmentLedger(FP, (playlist(0, 5), playlist(1, 3), playlist(2, 4)))
    assert ledger.rows == 3
    assert ledger.segment_count == 12
    assert ledger.boundary_us() == 12_000_000  # where the fourth row starts
    assert [len(p.segments) for p in ledger.head(2).playlists] == [2, 2, 2]
    assert SegmentLedger(FP).rows == 0
    assert SegmentLedger(FP, (playlist(0, 5), playlist(1, 0))).rows == 0
    assert ledger.playlist("cmaf/media_1.m3u8") == playlist(1, 3)
    assert ledger.playlist("cmaf/media_9.m3u8") is None


def test_a_ledger_reads_back_whole() -> None:
    ledger = SegmentLedger(FP, (playlist(0, 40), playlist(1, 39, 4_004_000), playlist(2, 0)))
    assert decode_ledger(encode_ledger(ledger)) == ledger


def test_paths_that_follow_no_numbering_are_listed() -> None:
    odd = PlaylistLedger(
        "hls/media_0.m3u8",
        None,
        (LedgerSegment("hls/a.ts", 1, 2), LedgerSegment("hls/b.ts", 3, 4)),
    )
    gap = PlaylistLedger(
        "hls/media_1.m3u8",
        None,
        (LedgerSegment("hls/seg-1-00000.ts", 1, 2), LedgerSegment("hls/seg-1-00002.ts", 3, 4)),
    )
    ledger = SegmentLedger(FP, (odd, gap, playlist(2, 3, first=0)))
    assert decode_ledger(encode_ledger(ledger)) == ledger


paths = st.text(alphabet="ab/-_.0123456789", min_size=1, max_size=12)
segments = st.builds(
    LedgerSegment, paths, st.integers(0, 10**8), st.integers(0, 10**10)
)  # fmt: skip
playlists = st.builds(
    PlaylistLedger, paths, st.none() | paths, st.lists(segments, max_size=6).map(tuple)
)  # fmt: skip


@given(st.text(max_size=30), st.lists(playlists, max_size=4).map(tuple))
def test_any_ledger_reads_back_as_it_was(
    fingerprint: str, lists: tuple[PlaylistLedger, ...]
) -> None:
    ledger = SegmentLedger(fingerprint, lists)
    assert decode_ledger(encode_ledger(ledger)) == ledger


def film(hours: float = 2.0, segment_seconds: int = 4, playlists: int = 7) -> SegmentLedger:
    """A film's ledger: sizes as a 1080p ladder's vary (kilobytes to megabytes)."""
    rng = random.Random(22)
    count = int(hours * 3600 / segment_seconds)
    rungs = []
    for n in range(playlists):
        scale = 2_500_000 // (n + 1)  # the top rung's segments are the largest
        segments = tuple(
            LedgerSegment(
                f"cmaf/seg-{n}-{k + 1:05d}.m4s",
                segment_seconds * 1_000_000 if k % 50 else 4_004_000,
                rng.randint(scale // 2, scale * 2),
            )
            for k in range(count)
        )
        rungs.append(PlaylistLedger(f"cmaf/media_{n}.m3u8", f"cmaf/init-{n}.m4s", segments))
    return SegmentLedger(FP, tuple(rungs))


def test_a_two_hour_film_fits_a_dynamodb_item_comfortably() -> None:
    ledger = film()
    assert ledger.segment_count == 12_600
    stored = encode_ledger(ledger)
    assert len(stored) < 64 * 1024  # measured about 40 KB: a tenth of DynamoDB's 400 KB
    assert len(stored) < MAX_LEDGER_BYTES
    assert decode_ledger(stored) == ledger


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not zlib",
        zlib.compress(b"{}"),
        zlib.compress(b'{"v":2,"f":"x","p":[]}'),  # another version
        zlib.compress(b'{"v":1,"f":"x","p":[{"m":"a","d":[1,2],"z":[1]}]}'),  # ragged
        zlib.compress(b'{"v":1,"f":"x","p":[{"m":"a","d":[1],"z":[1]}]}'),  # no paths
        zlib.compress(b'{"v":1,"f":"x","p":[{"m":"a","d":[-1],"z":[1],"l":["s"]}]}'),
        zlib.compress(b" " * (9 * 1024 * 1024)),  # inflates beyond the limit
    ],
)
def test_bytes_that_are_no_ledger_are_refused(data: bytes) -> None:
    with pytest.raises(LedgerUnreadable):
        decode_ledger(data)


ARGV = (
    "ffmpeg", "-i", "file:/jobs/j-1/source", "-filter_complex",
    "[0:0]scale=1280:720[v0];movie=/jobs/j-1/logo.png[l]", "-c:v", "libx264", "-crf", "21",
    "file:/jobs/j-1/out/cmaf/manifest.mpd",
)  # fmt: skip


def fingerprint(argv: tuple[str, ...] = ARGV, root: str = "/jobs/j-1", **kw: str) -> str:
    identity = {"spec_hash": "abc", "tier": "cpu", "encoder": "libx264", **kw}
    return plan_fingerprint(
        identity["spec_hash"], argv, tier=identity["tier"], encoder=identity["encoder"],
        roots=(root,),
    )  # fmt: skip


def test_the_fingerprint_leaves_the_paths_out() -> None:
    moved = tuple(a.replace("/jobs/j-1", "/scratch/w2/j-1") for a in ARGV)
    assert fingerprint(moved, root="/scratch/w2/j-1") == fingerprint()


@pytest.mark.parametrize(
    "changed",
    [
        {"spec_hash": "abd"},
        {"tier": "nvenc"},
        {"encoder": "h264_nvenc"},
        {"argv": tuple("23" if a == "21" else a for a in ARGV)},
    ],
)
def test_the_fingerprint_changes_with_the_settings_tier_or_encoder(
    changed: dict[str, object],
) -> None:
    argv = changed.pop("argv", ARGV)
    assert isinstance(argv, tuple)
    assert fingerprint(argv, **{k: str(v) for k, v in changed.items()}) != fingerprint()
