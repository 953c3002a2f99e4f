"""A CEA-708 service's text as WebVTT cues: a minimal caption decoder (CTA-708), since
ffmpeg 5.1 has none. Pure: a service's blocks in time order in, cues out.

What it follows is what a pop-on caption needs: the windows (DefineWindow, the current
window, Clear/Display/Hide/Toggle/DeleteWindows, Reset), text (G0, G1 and the music note),
CR, HCR, FF and backspace. Pen and window attributes, positions, colours and the extended
code sets are read past (their parameters counted), not drawn. The text the visible windows
show, window by window, row by row, is a cue from the time it appears until it changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from core.errors import InvalidMedia
from core.text.cc_data import CcFrame, service_blocks, timed_packets
from core.text.subtitles import MAX_CUE_CHARS, MAX_CUES, Cue

_ROWS, _COLUMNS = 15, 42  # CTA-708's largest window
_BS, _FF, _CR, _HCR, _EXT1 = 0x08, 0x0C, 0x0D, 0x0E, 0x10
_CW0, _CLW, _DSW, _HDW, _TGW, _DLW, _RST, _DF0 = 0x80, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8F, 0x98
# C1 parameter bytes: DLY 1, SPA 2, SPC 3, SPL 2, SWA 4 (the window commands above apart)
_C1_PARAMS = {0x8D: 1, 0x90: 2, 0x91: 3, 0x92: 2, 0x97: 4}
_MUSIC_NOTE = 0x7F


@dataclass
class _Window:
    visible: bool
    rows: list[str] = field(default_factory=lambda: [""])

    def put(self, char: str) -> None:
        if len(self.rows[-1]) < _COLUMNS:
            self.rows[-1] += char

    def carriage_return(self) -> None:
        self.rows.append("")
        del self.rows[:-_ROWS]

    def lines(self) -> list[str]:
        return [r.strip() for r in self.rows if r.strip()]


class ServiceDecoder:
    """The windows of one service, as its commands and text leave them."""

    def __init__(self) -> None:
        self._windows: dict[int, _Window] = {}
        self._current = 0

    def shown(self) -> tuple[str, ...]:
        """The lines the visible windows show, in window order."""
        return tuple(
            line for n, w in sorted(self._windows.items()) if w.visible for line in w.lines()
        )

    def feed(self, data: bytes) -> None:
        at = 0
        while at < len(data):
            at = self._one(data, at)

    def _one(self, data: bytes, at: int) -> int:
        """Carry out the code at ``at``; where the next one begins."""
        code = data[at]
        if code < 0x20:
            return self._c0(data, at)
        if code < 0x80 or code >= 0xA0:
            self._put("♪" if code == _MUSIC_NOTE else chr(code))  # G0, G1 (Latin-1)
            return at + 1
        return self._c1(data, at)

    def _c0(self, data: bytes, at: int) -> int:
        code, window = data[at], self._windows.get(self._current)
        if code == _EXT1:
            return _extended_end(data, at + 1)
        if window is not None:
            if code == _CR:
                window.carriage_return()
            elif code == _HCR:
                window.rows[-1] = ""
            elif code == _FF:
                window.rows = [""]
            elif code == _BS:
                window.rows[-1] = window.rows[-1][:-1]
        # 0x11..0x17 take one parameter byte, 0x18..0x1F two (P16 among them)
        return at + 1 + (0 if code < 0x11 else 1 if code < 0x18 else 2)

    def _c1(self, data: bytes, at: int) -> int:
        code = data[at]
        if code < _CLW:
            self._current = code - _CW0
            return at + 1
        if code >= _DF0:
            self._define(code - _DF0, data[at + 1 : at + 7])
            return at + 7
        if code in (_CLW, _DSW, _HDW, _TGW, _DLW):
            self._windows_command(code, data[at + 1] if at + 1 < len(data) else 0)
            return at + 2
        if code == _RST:
            self._windows.clear()
        return at + 1 + _C1_PARAMS.get(code, 0)

    def _define(self, n: int, params: bytes) -> None:
        visible = bool(params[0] & 0x20) if params else False
        window = self._windows.setdefault(n, _Window(visible))
        window.visible = visible
        self._current = n

    def _windows_command(self, code: int, bitmap: int) -> None:
        for n in [n for n in range(8) if bitmap & (1 << n) and n in self._windows]:
            window = self._windows[n]
            if code == _CLW:
                window.rows = [""]
            elif code == _DLW:
                del self._windows[n]
            else:
                window.visible = code == _DSW or (code == _TGW and not window.visible)

    def _put(self, char: str) -> None:
        window = self._windows.get(self._current)
        if window is not None:
            window.put(char)


def _extended_end(data: bytes, at: int) -> int:
    """Past an EXT1 code (C2, G2, C3, G3: read past, not drawn); where the next one begins."""
    if at >= len(data):
        return at
    code = data[at]
    if code < 0x20:  # C2: 0, 1, 2 or 3 parameter bytes by range
        return at + 1 + code // 8
    if code < 0x80 or code >= 0xA0:  # G2, G3: one character
        return at + 1
    if code < 0x90:  # C3: 4 or 5 parameter bytes
        return at + 1 + (4 if code < 0x88 else 5)
    length = data[at + 1] & 0x3F if at + 1 < len(data) else 0  # C3 variable length
    return at + 2 + length


def service_text(frames: Sequence[CcFrame], service: int) -> tuple[Cue, ...]:
    """The cues of ``service`` in the frames' caption data."""
    blocks = [
        (time, block.data)
        for time, packet in timed_packets(frames)
        for block in service_blocks(packet)
        if block.service == service
    ]
    return service_cues(blocks, frames[-1].time if frames else 0.0)


def service_cues(blocks: Iterable[tuple[float, bytes]], end: float) -> tuple[Cue, ...]:
    """The cues of one service's blocks (each with its time, in order); a caption still
    shown at ``end`` ends there."""
    decoder = ServiceDecoder()
    cues: list[Cue] = []
    shown: tuple[str, ...] = ()
    since = 0.0
    for time, data in blocks:
        decoder.feed(data)
        now = decoder.shown()
        if now != shown:
            _add(cues, since, time, shown)
            shown, since = now, time
    _add(cues, since, end, shown)
    return tuple(cues)


def _add(cues: list[Cue], start: float, end: float, lines: tuple[str, ...]) -> None:
    if not lines or end <= start:
        return
    if len(cues) >= MAX_CUES:
        raise InvalidMedia(f"has more than {MAX_CUES} cues")
    kept = [_escaped(line) for line in lines]
    while len("\n".join(kept)) > MAX_CUE_CHARS:  # 8 windows of 15 rows could pass it
        kept.pop()
    cues.append(Cue(start, end, "\n".join(kept)))


def _escaped(line: str) -> str:
    """Caption characters as WebVTT text: no markup at all."""
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
