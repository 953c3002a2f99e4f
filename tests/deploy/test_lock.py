"""The lock files against pyproject.toml: what a fresh machine installs is what was locked.

`./dev` installs requirements-embedded.txt or requirements-test.txt with pip's
--require-hashes, and the images and the function install requirements.txt: each must pin every
package pyproject.toml asks for, at a version its range admits, with the files' hashes. A range
widened in pyproject.toml without `./dev lock` fails here, not on a user's machine.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^ ;\\]+)")

# lock file -> the extras it installs (test includes embedded through its self-reference)
LOCKS = {
    "requirements.txt": (),
    "requirements-embedded.txt": ("embedded",),
    "requirements-test.txt": ("test", "embedded"),
}


def pins(lock: str) -> dict[str, tuple[Version, int]]:
    """name -> (version, number of hashes) for every `name==version` entry of a lock file."""
    found: dict[str, tuple[Version, int]] = {}
    name = ""
    for line in (ROOT / lock).read_text().splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match[1])
            found[name] = (Version(match[2]), 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = found[name]
            found[name] = (version, hashes + 1)
    return found


def wanted(extras: tuple[str, ...]) -> list[Requirement]:
    listed = list(PROJECT["project"]["dependencies"])
    for extra in extras:
        listed += PROJECT["project"]["optional-dependencies"][extra]
    own = canonicalize_name(PROJECT["project"]["name"])
    return [req for req in map(Requirement, listed) if canonicalize_name(req.name) != own]


@pytest.mark.parametrize("lock", LOCKS)
def test_every_requirement_is_pinned_in_range_with_hashes(lock: str) -> None:
    locked = pins(lock)
    assert locked, f"{lock} pins nothing"
    for req in wanted(LOCKS[lock]):
        name = canonicalize_name(req.name)
        assert name in locked, f"{lock} lacks {req.name}: run ./dev lock"
        version, _ = locked[name]
        assert req.specifier.contains(version, prereleases=True), (
            f"{lock} pins {req.name}=={version}, outside pyproject's {req.specifier}: ./dev lock"
        )
    unhashed = sorted(name for name, (_, hashes) in locked.items() if hashes == 0)
    assert not unhashed, f"{lock} pins without hashes: {unhashed}"


def test_the_locks_agree_on_every_shared_package() -> None:
    """One version of a package everywhere: the tests run what the images ship."""
    runtime = pins("requirements.txt")
    for lock in ("requirements-embedded.txt", "requirements-test.txt"):
        other = pins(lock)
        differ = {n: (v, other[n][0]) for n, (v, _) in runtime.items() if other[n][0] != v}
        assert not differ, f"requirements.txt and {lock} differ: {differ}"


def test_the_editable_install_builds_with_a_locked_setuptools() -> None:
    """./dev installs the project with --no-build-isolation: its backend must be locked."""
    for requirement in map(Requirement, PROJECT["build-system"]["requires"]):
        for lock in ("requirements-embedded.txt", "requirements-test.txt"):
            version, _ = pins(lock)[canonicalize_name(requirement.name)]
            assert requirement.specifier.contains(version)


def test_dev_installs_from_the_locks_with_hashes() -> None:
    dev = (ROOT / "dev").read_text()
    assert "--require-hashes" in dev
    assert '-r "$(lock_of "$1")"' in dev
    assert not re.search(r"pip install[^\n]*-e \"?\.\[", dev), "an unlocked install of extras"
