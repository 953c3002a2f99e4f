"""``ffapi config check [SOURCE]``: judge a configuration document as the worker would, without
running one: a local file offline, or ``s3://bucket/key`` (default: ``FFAPI_CONFIG``), read
over this deployment's presets and settings. Exit 0 and a summary when valid; else the
reason, naming the line or field, and exit 2."""

from __future__ import annotations

from core.jobs.config import WorkerConfig
from handlers.cli_errors import CommandError
from handlers.live_config import read_config
from infra.settings import Settings


async def run_config_check(settings: Settings, source: str | None) -> int:
    where = source or settings.config
    if not where:
        raise CommandError("no configuration document to check", "give a file, or set FFAPI_CONFIG")
    print("\n".join(summary(where, await read_config(settings, where))))
    return 0


def summary(where: str, config: WorkerConfig) -> list[str]:
    catalog = config.catalog
    lines = [
        f"{where}: valid",
        f"presets: {', '.join(sorted(catalog.presets))} (default {catalog.default})",
        "watch rules:",
    ]
    for rule in config.intake.rules:
        suffixes = f" ({', '.join(rule.suffixes)})" if rule.suffixes else ""
        preset = rule.preset or f"{catalog.default} (the default)"
        output = f"s3://{rule.output.bucket}/{rule.output.prefix}"
        lines.append(f"  s3://{rule.bucket}/{rule.prefix}*{suffixes} -> {preset} -> {output}")
    return lines
