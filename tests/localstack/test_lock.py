"""LocalStack's lock against what it was resolved from: ``./dev localstack`` installs
requirements-localstack.txt with ``--require-hashes``, so every package must be pinned with its
hashes, at a version ``localstack.in`` admits. A pin changed in the ``.in`` without
``./dev localstack lock`` fails here, not at a LocalStack start. (No LocalStack needed.)"""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.test_lock import pins

ROOT = Path(__file__).parents[2]
HERE = Path(__file__).parent.relative_to(ROOT)
LOCK = str(HERE / "requirements-localstack.txt")


def wanted() -> list[Requirement]:
    lines = (ROOT / HERE / "localstack.in").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def test_every_package_is_pinned_in_range_with_hashes() -> None:
    locked = pins(LOCK)
    for req in wanted():
        name = canonicalize_name(req.name)
        assert name in locked, f"{LOCK} lacks {req.name}: run ./dev localstack lock"
        version, _ = locked[name]
        assert req.specifier.contains(version), f"{req} but {LOCK} pins {version}"
    unhashed = sorted(name for name, (_, hashes) in locked.items() if hashes == 0)
    assert unhashed == [], f"{LOCK} pins without hashes: {unhashed}"
    assert len(locked) > 50  # localstack-core[runtime] brings its server, moto-ext, ...


def test_dev_installs_it_with_hashes_into_its_own_virtualenv() -> None:
    dev = (ROOT / "dev").read_text()
    assert f"LS_LOCK={LOCK}" in dev
    assert '--require-hashes \\\n      -r "$LS_LOCK"' in dev
    assert (ROOT / ".gitignore").read_text().count("/.cache/") == 1
