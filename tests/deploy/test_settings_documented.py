"""Every setting the worker reads is in the README's settings table."""

from __future__ import annotations

from pathlib import Path

from infra.settings import Settings

README = Path(__file__).parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    table = README.read_text().split("## Settings", 1)[1].split("\n## ", 1)[0]
    missing = [n for n in Settings.model_fields if f"`FFAPI_{n.upper()}`" not in table]
    # A few rows name a family once (`FFAPI_GPU_BREAKER_FAILURES` / `_WINDOW` / `_COOLDOWN`).
    family = [n for n in missing if f"/ `_{n.upper().rsplit('_', 1)[1]}`" not in table]
    assert family == [], f"add to README's settings table: {family}"
