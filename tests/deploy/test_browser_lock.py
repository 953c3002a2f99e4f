"""The web players tests/browser runs are locked like the Python packages: package.json pins
exact versions, package-lock.json holds them with an integrity hash for every package, and
./dev installs them with `npm ci` (the lock or nothing)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
PLAYERS = ROOT / "tests" / "browser"
EXACT = re.compile(r"\d+\.\d+\.\d+")


def test_the_players_are_pinned_exactly() -> None:
    wanted = json.loads((PLAYERS / "package.json").read_text())["dependencies"]
    assert set(wanted) == {"hls.js", "dashjs"}
    assert all(EXACT.fullmatch(version) for version in wanted.values()), wanted


def test_the_lock_holds_the_pins_with_hashes() -> None:
    wanted = json.loads((PLAYERS / "package.json").read_text())["dependencies"]
    lock = json.loads((PLAYERS / "package-lock.json").read_text())
    packages = lock["packages"]
    assert packages[""]["dependencies"] == wanted, "run npm install in tests/browser"
    for name, version in wanted.items():
        assert packages[f"node_modules/{name}"]["version"] == version
    unhashed = [
        p for p, v in packages.items() if p and not v.get("integrity", "").startswith("sha512-")
    ]
    assert unhashed == []


def test_dev_installs_them_from_the_lock() -> None:
    dev = (ROOT / "dev").read_text()
    assert 'npm ci --prefix "$BROWSER_DIR" --ignore-scripts' in dev
    assert "BROWSER_DIR=tests/browser" in dev
    assert (ROOT / ".gitignore").read_text().count("tests/browser/node_modules/") == 1
