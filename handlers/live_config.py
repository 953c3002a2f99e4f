"""The live configuration (``FFAPI_CONFIG``) wired for the worker and the Lambda handler.

At start the document is read and judged whole: missing or invalid, it stops the process
(``ConfigError``, as a bad presets file does). Then the container worker checks it every
``FFAPI_CONFIG_CHECK_SECONDS`` and on SIGHUP (a task beside the consumer); the Lambda handler
keeps the configuration of its warm environment and checks it at most that often, at the
start of an invocation. Each reload's outcome is counted (``ffapi_config_reloads_total``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from core.jobs.config import ConfigBase, WorkerConfig
from core.jobs.config_reload import (
    ConfigInForce,
    ConfigReloader,
    ReloadOutcome,
    load_config,
)
from core.jobs.watch import WatchRule
from core.ports import ConfigReader
from core.presets import PresetCatalog
from infra.aws import open_clients
from infra.config_source import S3Location, config_reader, parse_location
from infra.metrics import CONFIG_RELOADS
from infra.settings import Settings


class ReloadMetrics:
    def reloaded(self, outcome: ReloadOutcome) -> None:
        if outcome is not ReloadOutcome.UNCHANGED:  # a check every 30 s is no news
            CONFIG_RELOADS.labels(outcome.value).inc()


@dataclass(frozen=True, slots=True)
class LiveConfig:
    reloader: ConfigReloader
    reader: ConfigReader
    every: float

    @property
    def in_force(self) -> ConfigInForce:
        return self.reloader.in_force

    async def run(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        await self.reloader.run(self.reader, stop, self.every, wake)


def config_base(settings: Settings, catalog: PresetCatalog) -> ConfigBase:
    return ConfigBase(catalog, settings.intake, settings.input_bucket, settings.submit_prefix)


async def open_live_config(
    settings: Settings, catalog: PresetCatalog, s3: Any, warm: ConfigReloader | None = None
) -> LiveConfig | None:
    """None without FFAPI_CONFIG. ``warm``: the reloader of an earlier Lambda invocation,
    checked if its last check is old enough; else the document is loaded (or stops us)."""
    if not settings.config:
        return None
    reader = config_reader(settings.config, s3)
    every = settings.config_check_seconds
    if warm is not None:
        await warm.check_due(reader, every)
        return LiveConfig(warm, reader, every)
    base = config_base(settings, catalog)
    in_force = ConfigInForce(await load_config(reader, base))
    reloader = ConfigReloader(base, in_force, time.monotonic, ReloadMetrics())
    return LiveConfig(reloader, reader, every)


async def read_config(settings: Settings, where: str) -> WorkerConfig:
    """A document judged once, as the worker would at start (the CLI's commands)."""
    base = config_base(settings, settings.presets())
    if isinstance(parse_location(where), S3Location):
        async with open_clients(settings) as clients:
            return await load_config(config_reader(where, clients.s3), base)
    return await load_config(config_reader(where, None), base)


async def catalog_in_force(settings: Settings) -> PresetCatalog:
    """The presets a worker with these settings starts with: FFAPI_CONFIG's over the files'
    (a command that derives a job id must derive the worker's)."""
    if not settings.config:
        return settings.presets()
    return (await read_config(settings, settings.config)).catalog


async def rules_in_force(settings: Settings) -> tuple[WatchRule, ...]:
    """The watch rules a worker with these settings starts with: FFAPI_CONFIG's, else the
    settings' one rule (``ffapi prune`` keeps what they say)."""
    if not settings.config:
        return settings.intake.rules
    return (await read_config(settings, settings.config)).intake.rules
