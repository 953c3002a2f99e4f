"""Retention's decision (core/jobs/retention.py): which prefixes the watch rules keep for a
while, and what under them is expired: a job's package whole, by its newest object, with its
job.json first; an upload alone, by its own age and the rule's suffixes; nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.jobs.retention import RetentionTarget, expired, retention_targets
from core.jobs.watch import WatchRule
from core.models import OutputLocation
from core.ports import ObjectListing

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
OLD, MIXED, NEW, LOST = (f"j-{n:024x}" for n in (1, 2, 3, 4))  # job ids, as derived
OUT = OutputLocation(bucket="ffapi-output", prefix="outputs/")


def aged(key: str, days: float, size: int = 10) -> ObjectListing:
    return ObjectListing(key, size, NOW - timedelta(days=days))


def rule(**kw: object) -> WatchRule:
    fields: dict[str, object] = {
        "bucket": "ffapi-input", "prefix": "incoming/", "preset": None, "output": OUT,
    }  # fmt: skip
    return WatchRule(**{**fields, **kw})  # type: ignore[arg-type]


def test_a_rule_without_retention_keeps_everything() -> None:
    assert retention_targets([rule()]) == []


def test_each_prefix_is_pruned_once_with_the_shortest_retention() -> None:
    rules = [
        rule(output_retention_days=30, input_retention_days=14),
        rule(prefix="incoming/", output_retention_days=7),  # the same outputs, kept less
        rule(prefix="clips/", suffixes=(".MOV", ".mp4"), input_retention_days=3),
        rule(output=OutputLocation(bucket="ffapi-output", prefix=""), output_retention_days=90),
    ]
    assert retention_targets(rules) == [
        RetentionTarget("outputs", "ffapi-output", "outputs/", 7),
        RetentionTarget("inputs", "ffapi-input", "incoming/", 14),
        RetentionTarget("inputs", "ffapi-input", "clips/", 3, (".mov", ".mp4")),
        RetentionTarget("outputs", "ffapi-output", "", 90),
    ]


def test_a_package_goes_whole_once_its_newest_object_is_older_than_the_retention() -> None:
    target = RetentionTarget("outputs", "ffapi-output", "outputs/", 30)
    listing = [
        aged(f"outputs/{OLD}/cmaf/seg_00001.m4s", 40, 100),
        aged(f"outputs/{OLD}/cmaf/master.m3u8", 40, 5),
        aged(f"outputs/{OLD}/job.json", 39, 7),
        aged(f"outputs/{MIXED}/cmaf/seg_00001.m4s", 45),  # rewritten 2 days ago: it stays
        aged(f"outputs/{MIXED}/job.json", 2),
        aged(f"outputs/{NEW}/job.json", 1),
        aged("outputs/readme.txt", 400),  # not a job's package: not the worker's
        aged("outputs/notes/old.txt", 400),
        aged("outputs/j-notes/old.txt", 400),  # not a job id
        aged(f"outputs-x/{OLD}/job.json", 400),  # a listing's stray: outside the prefix
    ]
    [package] = expired(target, listing, NOW)
    assert package.name == f"outputs/{OLD}/"
    assert package.keys == (
        f"outputs/{OLD}/job.json",  # the commit marker first
        f"outputs/{OLD}/cmaf/master.m3u8",
        f"outputs/{OLD}/cmaf/seg_00001.m4s",
    )
    assert (package.size, package.newest) == (112, NOW - timedelta(days=39))


def test_a_requests_own_prefix_below_the_rules_holds_packages_too() -> None:
    target = RetentionTarget("outputs", "ffapi-output", "outputs/", 30)
    listing = [
        aged(f"outputs/web/{OLD}/job.json", 40),
        aged(f"outputs/web/{OLD}/{NEW}/x.mp4", 40),  # inside the package: a name, no job
        aged(f"outputs/web/{NEW}", 40),  # a file named like a job: no folder
    ]
    [package] = expired(target, listing, NOW)
    assert (package.name, len(package.keys)) == (f"outputs/web/{OLD}/", 2)


def test_a_package_without_its_marker_goes_too() -> None:
    """What a dead worker (or an interrupted prune) left: no job.json, still old."""
    target = RetentionTarget("outputs", "out", "", 1)
    [package] = expired(target, [aged(f"{LOST}/a.mp4", 3), aged("top.mp4", 3)], NOW)
    assert (package.name, package.keys) == (f"{LOST}/", (f"{LOST}/a.mp4",))


def test_uploads_go_one_by_one_by_age_and_suffix() -> None:
    target = RetentionTarget("inputs", "ffapi-input", "incoming/", 14, (".mp4",))
    listing = [
        aged("incoming/a.MP4", 15),
        aged("incoming/b.mp4", 13),
        aged("incoming/c.mov", 20),  # another rule's, or none's
        aged("incoming/sub/d.mp4", 14.5),
    ]
    found = expired(target, listing, NOW)
    assert [(e.name, e.keys) for e in found] == [
        ("incoming/a.MP4", ("incoming/a.MP4",)),
        ("incoming/sub/d.mp4", ("incoming/sub/d.mp4",)),
    ]


def test_the_cutoff_moves_with_now() -> None:
    target = RetentionTarget("inputs", "b", "in/", 14)
    listing = [aged("in/x", 10)]
    assert expired(target, listing, NOW) == []
    assert [e.name for e in expired(target, listing, NOW + timedelta(days=5))] == ["in/x"]
