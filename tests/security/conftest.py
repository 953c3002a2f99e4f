"""Security harness: moto's server in this process, two real worker processes with measuring
ffmpeg/ffprobe, a canary HTTP server and a secret file. Every case is submitted at once and
judged from what the workers did; the run's figures are printed under "security figures"
(they belong in the README's security section)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.events.webhooks import SECRET_PREFIX
from infra.emulator import EmbeddedEmulator, embedded_emulator
from infra.tools import tools_in_force
from tests.harness.fleet import Fleet
from tests.harness.stack import REGION, make_fleet_stack

from .arena import MAX_CHILD_RSS_KIB, MAX_WORKER_RSS_KIB, MIB, Arena, Verdict
from .canary import Canary, Hit
from .cases import Expect
from .hostile import MediaFixtures
from .media_cases import MEDIA_CASES
from .message_cases import MESSAGE_CASES
from .subtitle_cases import SUBTITLE_CASES

CASES = MEDIA_CASES + MESSAGE_CASES + SUBTITLE_CASES
WORKERS = ("a", "b")

# Quick to settle: retries (there should be none) come back within a second, a stuck
# encode is stopped within a minute, a webhook gives up within seconds.
SUITE_SETTINGS: dict[str, Any] = {
    "visibility_timeout": 30,
    "max_receive_count": 3,
    "worker_concurrency": 4,
    "transcode_timeout": 60,
    "stall_seconds": 20,
    "webhook_timeout": 2,
    "webhook_deadline": 5,
    "webhook_backoff_base": 0.2,
}
# Per-job webhooks are signed with these: without one no delivery would even be tried, and
# the webhook cases would prove nothing.
WEBHOOK_SECRETS = json.dumps([SECRET_PREFIX + "c2VjdXJpdHktc3VpdGUtd2ViaG9va3Mta2V5"])

FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("security figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@dataclass
class SecurityRun:
    verdicts: dict[str, Verdict]
    leaks: list[str]
    connections: list[tuple[str | None, str]]
    hits: list[Hit]
    worker_peaks: dict[str, int]
    max_child: tuple[int, str]  # KiB, and which run
    seconds: float
    queue_left: int
    dead_letters: int
    stray_runs: list[str]  # ffmpeg/ffprobe runs of no case's job
    table: Path | None = None  # the per-case outcomes, written beside the run

    def figures(self) -> list[str]:
        verdicts = list(self.verdicts.values())
        clean = sum(not v.problems() for v in verdicts)
        worker = max(self.worker_peaks.values(), default=0)
        return [
            f"cases tried: {len(verdicts)} ({clean} with no problem found)",
            _share("rejected with the expected code", verdicts, _refusal),
            _share("completed where expected (injected text inert, controls)", verdicts,
                   lambda e: e.completes and not e.codes),
            _share("refused or completed cleanly (damaged files, webhook host names)",
                   verdicts, lambda e: e.completes and bool(e.codes)),
            f"canary hits: {len(self.connections)} connections ({len(self.hits)} of them HTTP "
            "requests)",
            f"secret leaks: {len(self.leaks)}",
            f"retries: {sum(v.returned for v in verdicts)}; dead letters: {self.dead_letters}",
            f"max child RSS: {self.max_child[0] / MIB:.0f} MiB ({self.max_child[1]}; bound "
            f"{MAX_CHILD_RSS_KIB // MIB} MiB)",
            f"max worker RSS: {worker / MIB:.0f} MiB (bound {MAX_WORKER_RSS_KIB // MIB} MiB)",
            f"settled in {self.seconds:.0f}s; each case's outcome: {self.table}",
        ]  # fmt: skip

    def write_table(self, path: Path) -> None:
        """One line a case: its name, what came of it, what was expected, any problem."""
        lines = []
        for name, v in self.verdicts.items():
            problems = "; ".join(v.problems()) or "ok"
            lines.append(f"{name:40} {v.outcome():28} {v.case.expect.label:40} {problems}")
        path.write_text("\n".join(lines) + "\n")
        self.table = path


def _refusal(expect: Expect) -> bool:
    return bool(expect.codes) and not expect.completes


def _share(what: str, verdicts: list[Verdict], kind: Callable[[Expect], bool]) -> str:
    group = [v for v in verdicts if kind(v.case.expect)]
    return f"{what}: {sum(v.as_expected() for v in group)}/{len(group)}"


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmbeddedEmulator]:
    tools_in_force()
    with embedded_emulator(REGION) as emu:
        yield emu


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> MediaFixtures:
    tools_in_force()
    return MediaFixtures.make(tmp_path_factory.mktemp("hostile-media"))


@pytest.fixture(scope="session")
def security_run(
    emulator: EmbeddedEmulator, media: MediaFixtures, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecurityRun]:
    """Every case, submitted at once to two workers, settled and judged."""
    root = tmp_path_factory.mktemp("security")
    stack = make_fleet_stack(root / "run", **SUITE_SETTINGS)
    foreign = f"foreign-{uuid.uuid4().hex[:10]}"
    stack.client("s3").create_bucket(Bucket=foreign)
    # The secret sits where '../../../secret.txt' from a job's input directory leads.
    with (
        Canary(root / "run") as canary,
        Fleet(stack.settings, root / "run", emulator.endpoint_url, measure_tools=True) as fleet,
    ):
        assert canary.answers(), "the canary must answer, or zero hits would prove nothing"
        arena = Arena(stack, fleet, canary, media, foreign)
        arena.start(WORKERS, webhook_secrets=WEBHOOK_SECRETS)
        sent = arena.submit(CASES)
        seconds = arena.settle(sent)
        queue_left = stack.queue_depth(stack.resources.queue_url)
        dead_letters = stack.queue_depth(stack.resources.dlq_url)
        arena.stop()
        verdicts, stray = arena.judge(sent)
        runs = fleet.tool_runs()
        top = max(runs, key=lambda r: r.maxrss_kib or 0)
        run = SecurityRun(
            verdicts={v.case.name: v for v in verdicts},
            leaks=arena.leaks(),
            connections=list(canary.connections),
            hits=list(canary.hits),
            worker_peaks=arena.worker_peaks,
            max_child=(top.maxrss_kib or 0, _describe(top, verdicts)),
            seconds=seconds,
            queue_left=queue_left,
            dead_letters=dead_letters,
            stray_runs=[" ".join((r.tool, *r.argv))[:300] for r in stray],
        )
        run.write_table(root / "outcomes.txt")
        FIGURES.extend(run.figures())
        yield run


def _describe(run: Any, verdicts: list[Verdict]) -> str:
    owner = next((v.case.name for v in verdicts if run in v.runs), "no case")
    return f"{run.tool}, {owner}"
