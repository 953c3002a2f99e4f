"""The inputs a worker keeps for the chunks of a split job (``infra.source_copies``), on a
real directory: a kept copy is linked, byte for byte, into a later job's directory and
outlives the job that downloaded it; only a pinned object is kept, and only under its own
identity; the copies are read-only, at most ``keep`` of them (the least recently used leave
first), none older than ``max_age`` unused; a dead worker's directory is swept as a job
directory is."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.models import S3ObjectRef
from infra.source_copies import LinkedSourceCopies
from infra.workspace import LocalWorkspace, owner_tag


def ref(key: str = "films/long.mp4", etag: str | None = "e1") -> S3ObjectRef:
    return S3ObjectRef(bucket="input", key=key, etag=etag)


def kept_in(copies: LinkedSourceCopies) -> Path:
    assert copies.directory is not None, "made with the first copy"
    return copies.directory


def downloaded(root: Path, name: str, data: bytes) -> Path:
    """A job directory's input, as a download leaves it."""
    (root / name).mkdir(parents=True)
    path = root / name / "source"
    path.write_bytes(data)
    return path


def test_a_kept_input_is_linked_into_a_later_job_and_outlives_the_first(tmp_path: Path) -> None:
    copies = LinkedSourceCopies(tmp_path / "work")
    assert copies.directory is None  # a worker that never splits leaves nothing behind
    first = downloaded(tmp_path, "job-1", b"the film")
    asyncio.run(copies.keep(ref(), first))
    shutil.rmtree(first.parent)  # the parent's job directory goes when it has split
    later = tmp_path / "job-2-source"
    assert asyncio.run(copies.link(ref(), later))
    assert later.read_bytes() == b"the film"
    assert later.stat().st_mode & 0o222 == 0  # read-only: no job writes into another's input
    copies.close()
    assert not kept_in(copies).exists()
    assert later.read_bytes() == b"the film"  # the job's own link stays its own


def test_only_the_same_pinned_object_is_linked(tmp_path: Path) -> None:
    copies = LinkedSourceCopies(tmp_path / "work")
    asyncio.run(copies.keep(ref(), downloaded(tmp_path, "job-1", b"v1")))
    assert not asyncio.run(copies.link(ref(etag="e2"), tmp_path / "newer"))  # overwritten
    assert not asyncio.run(copies.link(ref(key="films/other.mp4"), tmp_path / "other"))
    unpinned = ref(etag=None)
    asyncio.run(copies.keep(unpinned, downloaded(tmp_path, "job-2", b"v?")))
    assert not asyncio.run(copies.link(unpinned, tmp_path / "unpinned"))
    assert len(list(kept_in(copies).iterdir())) == 1
    # no key text on the disk
    assert all("films" not in p.name for p in kept_in(copies).iterdir())


def test_the_least_recently_used_copy_leaves_first(tmp_path: Path) -> None:
    copies = LinkedSourceCopies(tmp_path / "work", keep=2)
    asyncio.run(copies.keep(ref("a"), downloaded(tmp_path, "a", b"a")))
    asyncio.run(copies.keep(ref("b"), downloaded(tmp_path, "b", b"b")))
    old = os.stat(kept_in(copies)).st_mtime - 60
    for entry in kept_in(copies).iterdir():  # both kept a minute ago
        os.utime(entry, (old, old))
    assert asyncio.run(copies.link(ref("a"), tmp_path / "a-again"))  # "a" used now
    asyncio.run(copies.keep(ref("c"), downloaded(tmp_path, "c", b"c")))
    assert not asyncio.run(copies.link(ref("b"), tmp_path / "b-again"))
    assert asyncio.run(copies.link(ref("a"), tmp_path / "a-third"))
    assert asyncio.run(copies.link(ref("c"), tmp_path / "c-again"))


def test_a_copy_unused_past_its_age_is_dropped(tmp_path: Path) -> None:
    copies = LinkedSourceCopies(tmp_path / "work", keep=4, max_age=600)
    asyncio.run(copies.keep(ref(), downloaded(tmp_path, "job-1", b"x")))
    [entry] = kept_in(copies).iterdir()
    stale = entry.stat().st_mtime - 601
    os.utime(entry, (stale, stale))
    assert not asyncio.run(copies.link(ref(), tmp_path / "late"))
    assert list(kept_in(copies).iterdir()) == []


def test_a_dead_workers_copies_are_swept_and_a_live_ones_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    live = LinkedSourceCopies(work)
    asyncio.run(live.keep(ref(), downloaded(tmp_path, "live", b"x")))
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    namespace = owner_tag().split("-p")[0]
    dead_tag = f"{namespace}-p{done.stdout.strip()}"
    monkeypatch.setattr("infra.source_copies.owner_tag", lambda: dead_tag)
    dead = LinkedSourceCopies(work)
    asyncio.run(dead.keep(ref(), downloaded(tmp_path, "job", b"x")))
    assert LocalWorkspace(work).sweep() == [kept_in(dead)]
    assert kept_in(live).exists()
