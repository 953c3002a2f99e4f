"""What the segment ledger costs in the job record, and to write and read.

    .venv/bin/python bench/segment_ledger.py

For films of several lengths, segment durations and playlist counts (sizes drawn as a
1080p ladder's vary, the top rung's 1.25 to 5 MB), the stored bytes
(``core.attempt.ledger_codec``), the write units one UpdateItem of the job then costs
(DynamoDB bills the larger of the item before and after, one unit per KB: every renewal and
progress write of a job with a large ledger pays it), and the median time to encode and to
decode it (each ledger write encodes it; every read of the record decodes it).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.attempt.ledger_codec import decode_ledger, encode_ledger
from tests.unit.test_ledger import film

CASES = [(0.5, 4, 7), (2.0, 4, 7), (2.0, 2, 7), (4.0, 4, 8), (4.0, 2, 8)]


def median_ms(work: object, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    print(f"{'film':>6} {'seg':>4} {'lists':>5} {'segments':>8} {'bytes':>8} {'WCU':>4}"
          f" {'encode ms':>9} {'decode ms':>9}")  # fmt: skip
    for hours, seconds, lists in CASES:
        ledger = film(hours, seconds, lists)
        data = encode_ledger(ledger)
        encode = median_ms(lambda ledger=ledger: encode_ledger(ledger))
        decode = median_ms(lambda data=data: decode_ledger(data))
        print(f"{hours:>5}h {seconds:>3}s {lists:>5} {ledger.segment_count:>8} {len(data):>8}"
              f" {-(-len(data) // 1024):>4} {encode:>9.1f} {decode:>9.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
