"""The configuration in force, and putting a new one in force without a restart.

:class:`ConfigInForce` holds one :class:`core.jobs.config.WorkerConfig`; the dispatcher reads
it once per message, so a message's intake and catalog come from the same configuration. A
job resolves its preset at identity (:mod:`core.jobs.identity`) and carries the resolved
preset to its end: a reload never changes a job in flight.

:class:`ConfigReloader` asks the document's :class:`core.ports.ConfigReader` whether it
changed (a conditional GET on the last version seen: an unchanged document costs no parse),
on a timer, when woken (SIGHUP), or, in Lambda, at most every N seconds between invocations.
A changed document is parsed and validated whole; a valid one replaces the old in one
assignment, an invalid one is refused (one warning naming the reason) and the old stays in
force. A refused version is not judged again until the document changes once more (nor is
a missing document refused again until it has been found).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

import structlog

from core.jobs.config import ConfigBase, ConfigError, WorkerConfig, parse_config
from core.ports import ConfigReader

log = structlog.get_logger("ffapi.config")


class ConfigInForce:
    """The configuration jobs start with; replaced whole, never changed in place."""

    def __init__(self, config: WorkerConfig) -> None:
        self._current = config

    @property
    def current(self) -> WorkerConfig:
        return self._current

    def put(self, config: WorkerConfig) -> None:
        self._current = config


class ReloadOutcome(StrEnum):
    UNCHANGED = "unchanged"
    REPLACED = "replaced"  # a new valid configuration is in force
    REFUSED = "refused"  # invalid or missing: the old stays in force
    UNREADABLE = "unreadable"  # the store did not answer: tried again on the next check


class ReloadObserver(Protocol):
    def reloaded(self, outcome: ReloadOutcome) -> None: ...


async def load_config(reader: ConfigReader, base: ConfigBase) -> WorkerConfig:
    """The document at start: missing or invalid raises ConfigError (the worker stops)."""
    found = await reader.read()
    if found is None:  # no version was given: a reader always answers
        raise ConfigError("the configuration document could not be read")
    config = parse_config(found.text, base, found.version)
    log.info("config.loaded", version=config.version, rules=len(config.intake.rules))
    return config


class ConfigReloader:
    def __init__(
        self,
        base: ConfigBase,
        in_force: ConfigInForce,
        clock: Callable[[], float],
        observer: ReloadObserver | None = None,
    ) -> None:
        self._base = base
        self.in_force = in_force
        self._clock = clock
        self._observer = observer
        self._seen = in_force.current.version  # the last version judged, valid or not
        self._unreadable: str | None = None  # the reader's last refusal (a missing document)
        self._checked = clock()

    async def check(self, reader: ConfigReader) -> ReloadOutcome:
        """Read the document if it changed; put it in force if it is valid."""
        self._checked = self._clock()
        outcome = await self._check(reader)
        if self._observer is not None:
            self._observer.reloaded(outcome)
        return outcome

    async def check_due(self, reader: ConfigReader, every: float) -> ReloadOutcome:
        """At most every ``every`` seconds (Lambda: between invocations, no thread of its own)."""
        if self._clock() - self._checked < every:
            return ReloadOutcome.UNCHANGED
        return await self.check(reader)

    async def run(
        self, reader: ConfigReader, stop: asyncio.Event, every: float, wake: asyncio.Event
    ) -> None:
        """Check every ``every`` seconds, and whenever ``wake`` is set, until ``stop``."""
        while not stop.is_set():
            await _first_of(stop, wake, every)
            if stop.is_set():
                return
            wake.clear()
            await self.check(reader)

    async def _check(self, reader: ConfigReader) -> ReloadOutcome:
        try:
            found = await reader.read(unless=self._seen)
        except ConfigError as exc:
            if str(exc) == self._unreadable:  # said once, not at every check while it lasts
                return ReloadOutcome.UNCHANGED
            self._unreadable = str(exc)
            log.warning("config.refused", reason=str(exc), in_force=self.in_force.current.version)
            return ReloadOutcome.REFUSED
        except Exception as exc:  # a store that does not answer now may answer the next check
            log.warning("config.unreadable", error=type(exc).__name__)
            return ReloadOutcome.UNREADABLE
        self._unreadable = None
        if found is None:
            return ReloadOutcome.UNCHANGED
        self._seen = found.version
        try:
            config = parse_config(found.text, self._base, found.version)
        except ConfigError as exc:
            log.warning(
                "config.refused",
                reason=str(exc),
                version=found.version,
                in_force=self.in_force.current.version,
            )
            return ReloadOutcome.REFUSED
        self.in_force.put(config)
        log.info("config.replaced", version=config.version, rules=len(config.intake.rules))
        return ReloadOutcome.REPLACED


async def _first_of(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waits = {asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())}
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
