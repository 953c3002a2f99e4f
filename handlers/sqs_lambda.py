"""Lambda entry point: the same core on an SQS batch, with partial batch failures.

Configure the event source mapping with ``FunctionResponseTypes: [ReportBatchItemFailures]``.
Records that failed transiently are returned in ``batchItemFailures`` and come back; the rest
are deleted by Lambda. As in Powertools, a batch in which every record failed raises.

The same function, invoked by its schedule (an EventBridge ``Scheduled Event``), runs one
pass of the dead-letter sweep (:mod:`core.jobs.dlq_sweep`): a job whose every invocation died
(the function timed out, ran out of memory) is failed and announced from the DLQ.

The configuration document (``FFAPI_CONFIG``) is read at cold start and kept by the warm
environment; an invocation checks its ETag at most every ``FFAPI_CONFIG_CHECK_SECONDS``
(no thread runs between invocations).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from core.jobs.config_reload import ConfigReloader
from core.jobs.dispatch import Disposition
from core.ports import QueueMessage
from handlers.runtime import Runtime, open_runtime
from infra.allocator import return_large_blocks
from infra.logs import configure_logging
from infra.settings import Settings
from infra.tools import use_tools

log = structlog.get_logger("ffapi.lambda")


class BatchProcessingError(Exception):
    """Every record of the batch failed; Lambda retries the whole batch."""


class _Warm:
    """What a warm environment keeps between invocations: the live configuration, by the
    FFAPI_CONFIG it was read from."""

    config: tuple[str, ConfigReloader] | None = None

    @classmethod
    def reloader(cls, settings: Settings) -> ConfigReloader | None:
        if cls.config is None or cls.config[0] != settings.config:
            return None
        return cls.config[1]

    @classmethod
    def keep(cls, settings: Settings, runtime: Runtime) -> None:
        live = runtime.config
        cls.config = (settings.config, live.reloader) if settings.config and live else None


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    use_tools(settings.tools())
    return_large_blocks()  # a warm environment runs batch after batch, as a worker does
    if event.get("detail-type") == "Scheduled Event":
        return asyncio.run(sweep_dead_letters(settings))
    return asyncio.run(process_batch(event, settings))


async def sweep_dead_letters(settings: Settings) -> dict[str, Any]:
    async with open_runtime(
        settings, with_queue=False, gpu=False, webhook_grace=settings.webhook_deadline,
        warm_config=_Warm.reloader(settings),
    ) as runtime:  # fmt: skip
        _Warm.keep(settings, runtime)
        if runtime.sweep is None:  # FFAPI_DLQ_SWEEP_SECONDS=0
            return {"letters": 0, "failed": [], "announced": []}
        report = await runtime.sweep.sweep()
    return {"letters": report.letters, "failed": report.failed, "announced": report.announced}


async def process_batch(
    event: dict[str, Any], settings: Settings
) -> dict[str, list[dict[str, str]]]:
    records = event.get("Records") or []
    failures: list[dict[str, str]] = []
    # Webhooks still in flight are waited for (up to their deadline) before returning: a
    # frozen function delivers nothing.
    async with open_runtime(
        settings, with_queue=False, gpu=False, webhook_grace=settings.webhook_deadline,
        warm_config=_Warm.reloader(settings),
    ) as runtime:  # fmt: skip
        _Warm.keep(settings, runtime)
        for record in records:
            message = QueueMessage(
                message_id=record["messageId"],
                body=record["body"],
                receive_count=int(record.get("attributes", {}).get("ApproximateReceiveCount", 1)),
            )
            try:
                outcome = await runtime.dispatcher.handle(message)
                failed = outcome.disposition is Disposition.RETRY
            except Exception:  # the job store or SNS is down: the record comes back
                log.exception("record.unhandled", message_id=message.message_id)
                failed = True
            if failed:
                failures.append({"itemIdentifier": message.message_id})
    if records and len(failures) == len(records):
        raise BatchProcessingError(f"all {len(records)} records failed; the batch will be retried")
    return {"batchItemFailures": failures}
