"""core.media.plan.fit_size: the output size for a source under a cap of its short side, from a
table and over a grid of sources (even, at least 2x2, capped, aspect kept, never upscaled)."""

from __future__ import annotations

import pytest

from core.media.plan import fit_size


@pytest.mark.parametrize(
    ("src", "max_height", "expected"),
    [
        ((1920, 1080), 720, (1280, 720)),
        ((1280, 720), 720, (1280, 720)),
        ((640, 360), 720, (640, 360)),  # never upscaled
        ((1080, 1920), 720, (720, 1280)),  # portrait: the short side is its width
        ((1080, 1920), 480, (480, 854)),  # 853.3 -> nearest even
        ((3840, 1080), 720, (2560, 720)),  # ultra-wide 32:9
        ((3840, 2160), 720, (1280, 720)),
        ((1920, 1080), 480, (854, 480)),  # 853.3 -> nearest even
    ],
)
def test_fit_size_table(src: tuple[int, int], max_height: int, expected: tuple[int, int]) -> None:
    assert fit_size(*src, max_height) == expected


def test_fit_size_odd_source_becomes_even() -> None:
    width, height = fit_size(1279, 719, 720)
    assert width % 2 == 0
    assert height % 2 == 0
    assert height <= 720
    assert abs(width / height - 1279 / 719) / (1279 / 719) < 0.01


def test_fit_size_tiny_source_is_at_least_2x2_and_even() -> None:
    width, height = fit_size(3, 3, 720)
    assert width >= 2
    assert height >= 2
    assert width % 2 == 0
    assert height % 2 == 0


def _grid() -> list[tuple[int, int]]:
    sizes = []
    for w in range(2, 4001, 37):
        for h in range(2, 4001, 41):
            if 0.25 <= w / h <= 4:  # beyond that, the 2-pixel floor dominates tiny sides
                sizes.append((w, h))
    return sizes


def _aspect_close(w: int, h: int, src_w: int, src_h: int) -> bool:
    ratio = src_w / src_h
    if abs(w / h - ratio) / ratio <= 0.01:
        return True
    # Tiny outputs: one even step (2 px) on either side must bring the ratio within 1%.
    return any(
        abs((w + dw) / (h + dh) - ratio) / ratio <= 0.01
        for dw in (-2, 0, 2)
        for dh in (-2, 0, 2)
        if w + dw > 0 and h + dh > 0
    )


def test_fit_size_properties_over_a_grid() -> None:
    grid = _grid()
    assert len(grid) > 3000
    for src_w, src_h in grid:
        for max_height in (720, 480):
            w, h = fit_size(src_w, src_h, max_height)
            where = f"{src_w}x{src_h} cap {max_height} -> {w}x{h}"
            assert w % 2 == 0, where
            assert h % 2 == 0, where
            assert w >= 2, where
            assert h >= 2, where
            assert min(w, h) <= max_height, where
            assert _aspect_close(w, h, src_w, src_h), where


def test_fit_size_never_upscales_even_sources() -> None:
    for src_w, src_h in _grid():
        if src_w % 2 or src_h % 2:
            continue
        for max_height in (720, 480):
            w, h = fit_size(src_w, src_h, max_height)
            where = f"{src_w}x{src_h} cap {max_height} -> {w}x{h}"
            assert h <= src_h, where
            assert w <= src_w, where


def test_fit_size_never_upscales_odd_sources() -> None:
    for src_w, src_h in [(1279, 719), (3, 3), (39, 43), *_grid()]:
        for max_height in (720, 480):
            w, h = fit_size(src_w, src_h, max_height)
            where = f"{src_w}x{src_h} cap {max_height} -> {w}x{h}"
            assert h <= max(src_h, 2), where
            assert w <= max(src_w, 2), where
