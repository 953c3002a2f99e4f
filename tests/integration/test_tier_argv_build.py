"""The GPU tiers' argv against the real ffmpeg build's own option lists.

No GPU here, so a GPU argv cannot run; what can be proved is that every option, filter and
filter option it uses is one this ffmpeg (Debian's 5.1, the CPU image's) knows, and that the
NVENC options belong to the NVENC encoders: a misspelt option would otherwise first fail on
a GPU host, as a failure the fallback does not cover.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache

import pytest

from core.media.accel import TIERS, AccelTier
from tests.unit.test_tier_argv import SOURCES, av1, graph, mp4, streaming

NVENC_OPTIONS = {"tune", "rc", "rc-lookahead", "spatial-aq", "forced-idr", "no-scenecut", "cq"}


@cache
def ffmpeg_help(topic: str) -> str:
    result = subprocess.run(
        ["ffmpeg", "-hide_banner", "-h", topic], capture_output=True, text=True, check=True
    )
    return result.stdout


def knows(help_text: str, option: str) -> bool:
    return re.search(rf"^\s*-?{re.escape(option)}\s", help_text, re.MULTILINE) is not None


def argvs() -> list[tuple[str, tuple[str, ...]]]:
    plans = [(f"web-hls {s} {t}", streaming(s, t).argv) for s in SOURCES for t in TIERS]
    plans += [(f"mp4-720p {s} {t}", mp4(s, t).argv) for s in SOURCES for t in TIERS]
    plans += [(f"web-av1 h264-1080p {t}", av1(t).argv) for t in TIERS]
    return plans


def filters(argv: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """(filter, option names given by key) for every filter of the graph."""
    found = []
    for chain in graph(argv).split(";"):
        for spec in re.split(r"(?<!\\),", re.sub(r"\[[^\]]*\]", "", chain)):
            name, _, args = spec.partition("=")
            keys = [a.split("=", 1)[0] for a in args.split(":") if "=" in a]
            found.append((name, keys))
    return found


@pytest.mark.parametrize(("name", "argv"), argvs(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_option_is_one_this_ffmpeg_knows(name: str, argv: tuple[str, ...]) -> None:
    full = ffmpeg_help("full")
    options = {a[1:].split(":")[0] for a in argv[1:] if a.startswith("-") and a[1:2].isalpha()}
    # a boolean main option is also given negated (-nostdin for -stdin)
    unknown = sorted(o for o in options if not knows(full, o) and not knows(full, o[2:]))
    assert not unknown, f"{name}: {unknown}"


@pytest.mark.parametrize(("name", "argv"), argvs(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_filter_and_filter_option_exists(name: str, argv: tuple[str, ...]) -> None:
    for filt, keys in filters(argv):
        text = ffmpeg_help(f"filter={filt}")
        assert f"Filter {filt}" in text, f"{name}: no filter {filt}"
        unknown = [k for k in keys if not knows(text, k)]
        assert not unknown, f"{name}: {filt} has no option {unknown}"


@pytest.mark.parametrize("encoder", ["h264_nvenc", "hevc_nvenc"])
def test_the_nvenc_options_we_use_are_the_nvenc_encoders_own(encoder: str) -> None:
    text = ffmpeg_help(f"encoder={encoder}")
    assert all(knows(text, o) for o in NVENC_OPTIONS), text[:200]
    # and our speed preset and tuning names are among its values
    assert re.search(r"^\s+p4\s", text, re.MULTILINE)
    assert re.search(r"^\s+hq\s", text, re.M)


def test_the_nvenc_encoders_we_name_are_in_this_build_except_av1() -> None:
    """Debian's 5.1 predates av1_nvenc: an AV1 job's gpu tier fails here with "Unknown
    encoder", a cause that moves it to gpu-decode (test_accel_fallback proves it)."""
    used = {a for _, argv in argvs() for a in argv if a.endswith("_nvenc")}
    assert used == {"h264_nvenc", "av1_nvenc"}
    encoders = subprocess.run(
        ["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, check=True
    ).stdout
    assert " h264_nvenc " in encoders
    assert any(AccelTier.GPU.value in n for n, _ in argvs())
