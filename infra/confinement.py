"""What an ffmpeg/ffprobe child is confined to, set between fork and exec: it dies with the
worker, sees no credentials, and runs under the kernel limits its plan asked for
(:class:`core.media.hardening.ResourceLimits`)."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from collections.abc import Callable

from core.media.hardening import ResourceLimits

# CPU seconds a process may run on after SIGXCPU before the kernel kills it: ffmpeg stops
# cleanly on that signal (flushing its encoders), which takes a few seconds of all threads.
CPU_GRACE_SECONDS = 30

PR_SET_PDEATHSIG = 1  # linux/prctl.h
SIG_IGN = 1  # signal.h's (void (*)(int)) 1


def in_child(parent: int, limits: ResourceLimits) -> Callable[[], None] | None:
    """What the child does between fork and exec (Linux): die with the worker, then take
    on ``limits``.

    Dying with the worker: its own session keeps the child out of a signal sent to the
    worker's group, so without PR_SET_PDEATHSIG a worker killed outright (kill -9, the OOM
    killer) would leave ffmpeg encoding on, orphaned, into a directory the next worker
    sweeps.

    The CPU-time limit is RLIMIT_CPU set here rather than ffmpeg's ``-timelimit``: that
    option sets soft = hard, so the kernel's SIGKILL follows its SIGXCPU at once and the
    run ends as -9, which reads as the OOM killer. A soft limit below the hard one lets
    ffmpeg stop on SIGXCPU (exit 255, classifiable), and SIGKILL only if it does not.
    SIGXFSZ is ignored (that survives exec) so a write past RLIMIT_FSIZE fails with EFBIG,
    "File too large", instead of killing ffmpeg without a word."""
    if sys.platform != "linux":
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    set_handler = libc.signal
    set_handler.argtypes = (ctypes.c_int, ctypes.c_void_p)
    set_handler.restype = ctypes.c_void_p
    caps = _rlimits(limits)

    def setup() -> None:  # between fork and exec: no locks, no allocation to speak of
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the worker died before prctl took effect
            os._exit(1)
        if limits.file_bytes is not None:
            set_handler(signal.SIGXFSZ, SIG_IGN)
        for which, soft, hard in caps:
            resource.setrlimit(which, (soft, hard))

    return setup


def _rlimits(limits: ResourceLimits) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) for each limit set, never above the worker's own hard limit
    (an unprivileged process cannot raise it)."""
    wanted = [
        (resource.RLIMIT_CPU, limits.cpu_seconds, CPU_GRACE_SECONDS),
        (resource.RLIMIT_AS, limits.memory_bytes, 0),
        (resource.RLIMIT_FSIZE, limits.file_bytes, 0),
    ]
    caps = []
    for which, value, grace in wanted:
        if value is not None:
            ceiling = resource.getrlimit(which)[1]
            caps.append((which, _under(value, ceiling), _under(value + grace, ceiling)))
    return caps


def _under(value: int, ceiling: int) -> int:
    return value if ceiling == resource.RLIM_INFINITY else min(value, ceiling)


def child_env() -> dict[str, str]:
    # ffmpeg needs no credentials: hand it PATH and locale only, never the AWS secrets.
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    # CUDA numbers devices fastest first unless told otherwise; nvidia-smi, whose indexes
    # name a job's device, numbers them by PCI bus.
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    return env
