"""The segment ledger on a DynamoDB job item: the attribute ``segment_ledger``, one Binary value
(``core.attempt.ledger_codec.encode_ledger``: some 40 KB for a
two-hour film), beside ``infra.jobstore``, which sends the write with its fence and token.

``note_segments`` replaces it in one conditional UpdateItem fenced by the attempt, and
refused for a cancel as a lease renewal is. A claim leaves it (its ``ALL_NEW`` answer
hands it to the claimant), so do a release, a failure and a cancel; ``complete`` removes
it. Reading never fails a record: a ledger this version cannot read is left out, and said
so (the next attempt encodes from the start). The memory store keeps the same bytes.

Cost: an UpdateItem is billed on the larger of the item before and after it, so once a
ledger is large every write of the job (a renewal, a progress update) costs its size in
write units (one per KB); the keeper writes it at most every 15 s.
"""

from __future__ import annotations

from typing import Any

import structlog
from boto3.dynamodb.types import Binary

from core.attempt.ledger import SegmentLedger
from core.attempt.ledger_codec import LedgerUnreadable, decode_ledger, encode_ledger

SEGMENTS = "segment_ledger"  # the item's attribute ("segments" is a DynamoDB reserved word)
NOTE = f"SET {SEGMENTS} = :segments, updated_at = :ts"
log = structlog.get_logger("ffapi.jobstore")


def noted(ledger: SegmentLedger) -> dict[str, Any]:
    """The values of :data:`NOTE`."""
    return {":segments": {"B": encode_ledger(ledger)}}


def carried(item: dict[str, Any], job_id: str) -> SegmentLedger | None:
    """The ledger of an item, raw (``{"B": ...}``, a claim's answer) or plain (a read one,
    its value ``bytes`` or boto3's ``Binary``); None when it has none, or none readable."""
    value = item.get(SEGMENTS)
    if isinstance(value, dict):
        value = value.get("B")
    if isinstance(value, Binary):
        value = value.value
    if not isinstance(value, bytes | bytearray):
        return None
    try:
        return decode_ledger(bytes(value))
    except LedgerUnreadable as exc:
        log.warning("job.segments_unread", job_id=job_id, reason=str(exc))
        return None
