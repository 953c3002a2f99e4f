"""``ffapi prune``: the watch rules' retention, on a store without lifecycle rules.

S3 deletes what the template's lifecycle rules expire; an S3-compatible store without them
(MinIO, a bucket made by ``ffapi bootstrap``) needs this command, run by an operator (or a
schedule) with credentials that may list and delete under the rules' prefixes. What is
expired is :mod:`core.jobs.retention`'s decision; this lists, prints and deletes: a job's
package whole, its ``job.json`` in a request of its own before the rest. ``--dry-run``
prints the same lines and deletes nothing; ``--now`` judges ages as of another time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from core.attempt.commit import MARKER
from core.jobs.retention import Expired, RetentionTarget, expired, retention_targets
from core.ports import ObjectStore
from handlers.live_config import rules_in_force
from infra.aws import open_clients
from infra.settings import Settings
from infra.storage import S3ObjectStore


@dataclass(frozen=True, slots=True)
class PruneCount:
    packages: int = 0
    uploads: int = 0
    size: int = 0

    def plus(self, kind: str, item: Expired) -> PruneCount:
        packages, uploads = (1, 0) if kind == "outputs" else (0, 1)
        return PruneCount(self.packages + packages, self.uploads + uploads, self.size + item.size)


async def prune(
    objects: ObjectStore, targets: list[RetentionTarget], now: datetime, dry_run: bool,
    say: Callable[[str], None],
) -> PruneCount:  # fmt: skip
    """Delete (or, dry, name) what each target holds past its retention."""
    count = PruneCount()
    for target in targets:
        listing = await objects.list_objects(target.bucket, target.prefix)
        for item in expired(target, listing, now):
            say(_line(item, dry_run))
            if not dry_run:
                await _delete(objects, item)
            count = count.plus(target.kind, item)
    return count


async def _delete(objects: ObjectStore, item: Expired) -> None:
    """The commit marker first, in a request of its own: a reader never finds a job.json
    over a half-deleted package (an interrupted prune leaves a package without one, which
    the next run deletes)."""
    keys = list(item.keys)
    if item.name.endswith("/") and keys[0] == f"{item.name}{MARKER}":
        await objects.delete_keys(item.bucket, keys[:1])
        keys = keys[1:]
    await objects.delete_keys(item.bucket, keys)


def _line(item: Expired, dry_run: bool) -> str:
    verb = "would delete" if dry_run else "deleted"
    files = f"{len(item.keys)} files" if item.name.endswith("/") else "1 file"
    return (
        f"{verb:<12}  s3://{item.bucket}/{item.name}  {files}, {item.size} bytes,"
        f" last modified {item.newest:%Y-%m-%d %H:%M} UTC"
    )


async def run_prune(settings: Settings, dry_run: bool, now: datetime | None) -> int:
    targets = retention_targets(await rules_in_force(settings))
    if not targets:
        print("no watch rule keeps anything for a limited time: nothing to prune")
        print("(FFAPI_OUTPUT_RETENTION_DAYS / FFAPI_INPUT_RETENTION_DAYS, or a rule's own)")
        return 0
    moment = datetime.now(UTC) if now is None else now.replace(tzinfo=now.tzinfo or UTC)
    for target in targets:
        print(f"{target.kind:<8} s3://{target.bucket}/{target.prefix}  kept {target.days} days")
    async with open_clients(settings) as clients:
        objects = S3ObjectStore(clients.s3)
        count = await prune(objects, targets, moment, dry_run, lambda s: print(s, flush=True))
    verb = "would be deleted" if dry_run else "deleted"
    print(f"{count.packages} packages and {count.uploads} uploads {verb} ({count.size} bytes)")
    return 0
