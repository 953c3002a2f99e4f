"""Which ffmpeg and ffprobe run: absolute paths, resolved once when a process starts.

``FFAPI_FFMPEG`` / ``FFAPI_FFPROBE`` name them; unset, each is the first on ``PATH`` at start.
Every process this package runs goes through :func:`infra.ffmpeg.run_argv`, which executes
these paths: a directory put early on ``PATH`` later, or a ``PATH`` changed under a running
worker, cannot swap the binary. core builds argv with the tool's name as ``argv[0]`` (it does
no I/O and knows no paths); the name is mapped here, at the one place processes start.
A tool not found is :class:`MissingBinary` (``ffapi`` exits 3); ``ffapi doctor`` shows the
paths in force.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

TOOL_NAMES = ("ffmpeg", "ffprobe")
_INSTALL_HINT = (
    "On Debian/Ubuntu: `sudo apt-get install -y ffmpeg`; on macOS: `brew install ffmpeg`."
)


class MissingBinary(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ToolPaths:
    ffmpeg: str
    ffprobe: str

    def executable(self, name: str) -> str:
        """The path that runs for ``name``; any other program is left to the caller's argv."""
        return {"ffmpeg": self.ffmpeg, "ffprobe": self.ffprobe}.get(name, name)

    def argv(self, argv: Sequence[str]) -> list[str]:
        return [self.executable(argv[0]), *argv[1:]] if argv else []


def resolve_tools(ffmpeg: str = "", ffprobe: str = "") -> ToolPaths:
    """Absolute paths of both tools (a setting may name one by path or by name); MissingBinary
    names every one that is missing, with the setting that chose it."""
    found, missing = {}, []
    for name, chosen in zip(TOOL_NAMES, (ffmpeg, ffprobe), strict=True):
        path = shutil.which(chosen or name)
        if path is None:
            missing.append(f"FFAPI_{name.upper()}={chosen}" if chosen else f"{name} on PATH")
        else:
            found[name] = os.path.abspath(path)
    if missing:
        raise MissingBinary(f"{', '.join(missing)}: not an executable file. {_INSTALL_HINT}")
    return ToolPaths(**found)


_in_force: ToolPaths | None = None


def use_tools(tools: ToolPaths) -> ToolPaths:
    """Make ``tools`` the ones every later run executes (the entry points call this at start)."""
    global _in_force
    _in_force = tools
    return tools


def tools_in_force() -> ToolPaths:
    """The tools resolved at start; where no entry point resolved them (a library caller, a
    test), resolved now from the same variables, once."""
    if _in_force is None:
        env = os.environ
        return use_tools(resolve_tools(env.get("FFAPI_FFMPEG", ""), env.get("FFAPI_FFPROBE", "")))
    return _in_force
