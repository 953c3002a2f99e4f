"""Headless Chromium (Debian's ``chromium``), started on one URL and stopped when the page
has posted its report.

No driver (Playwright, Selenium, CDP client): the page reports over HTTP to the test's own
server, so the test needs only the browser binary, whatever its version, and no Python or
protocol dependency that must match it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

# Headless as root on a machine with no network: the sandbox needs user namespaces root does
# not get in a container; the background services (updates, sync, QUIC probes) would only
# dial out and be refused.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    "--enable-logging=stderr",  # the page's console, for a failure's message
)


class BrowserFailed(AssertionError):
    """Chromium exited, or the page posted nothing in time; carries Chromium's last lines."""


def find_chromium() -> str | None:
    """FFAPI_CHROMIUM, else ``chromium`` (Debian) or ``chromium-browser`` / ``google-chrome``."""
    named = os.environ.get("FFAPI_CHROMIUM", "")
    if named:
        return shutil.which(named)
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def version(chromium: str) -> str:
    out = subprocess.run([chromium, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def open_page(chromium: str, url: str, reports: queue.Queue[bytes], timeout: float) -> bytes:
    """Opens ``url`` in a fresh profile and returns the first report the page posts."""
    with tempfile.TemporaryDirectory(prefix="ffapi-chromium-") as profile:
        log = Path(profile) / "chromium.log"
        with log.open("wb") as sink:
            browser = subprocess.Popen(
                [chromium, *FLAGS, f"--user-data-dir={profile}/data", url],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                start_new_session=True,
            )
            try:
                return _await_report(browser, reports, timeout, log)
            finally:
                _stop(browser)


def _await_report(
    browser: subprocess.Popen[bytes], reports: queue.Queue[bytes], timeout: float, log: Path
) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return reports.get(timeout=0.5)
        except queue.Empty:
            if browser.poll() is not None:
                message = f"chromium exited {browser.returncode}:\n{_tail(log)}"
                raise BrowserFailed(message) from None
    raise BrowserFailed(f"no report from the page in {timeout:.0f} s:\n{_tail(log)}")


def _stop(browser: subprocess.Popen[bytes]) -> None:
    # Its own process group: the renderer, GPU and utility processes go with it.
    _signal_group(browser, signal.SIGTERM)
    try:
        browser.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _signal_group(browser, signal.SIGKILL)
        browser.wait()


def _signal_group(browser: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited
        os.killpg(browser.pid, sig)


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
