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

A job for later (``not_before``, :mod:`core.jobs.schedule`) is requeued: a fresh copy sent,
delayed, to the queue its record came from (``eventSourceARN``), and the record acknowledged.
The three priority queues each have their own event source: Lambda polls them without
weights (the template caps the low queue's concurrency instead).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from core.jobs.config_reload import ConfigReloader
from core.jobs.outcome import Disposition
from core.ports import QueueMessage
from handlers.runtime import Runtime, open_runtime
from infra.allocator import return_large_blocks
from infra.aws import aws_errors
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
                if outcome.disposition is Disposition.DEFER:  # core.jobs.schedule
                    await requeue(runtime, record, int(outcome.retry_after or 0))
                failed = outcome.disposition is Disposition.RETRY
            except Exception:  # the job store or SNS is down: the record comes back
                log.exception("record.unhandled", message_id=message.message_id)
                failed = True
            if failed:
                failures.append({"itemIdentifier": message.message_id})
    if records and len(failures) == len(records):
        raise BatchProcessingError(f"all {len(records)} records failed; the batch will be retried")
    return {"batchItemFailures": failures}


async def requeue(runtime: Runtime, record: dict[str, Any], delay: int) -> None:
    """A job for later: a fresh copy of the record's body, delayed, on the queue it came from
    (Lambda deletes this one, as for any record not reported failed). The queue's URL is one
    of the function's settings (the template passes URLs); a failed send raises, and the
    record is reported failed and comes back."""
    name = str(record.get("eventSourceARN", "")).rsplit(":", 1)[-1]
    urls = [u for u in runtime.settings.lane_names().values() if u.rsplit("/", 1)[-1] == name]
    sqs = runtime.clients.sqs
    if urls and urls[0].startswith(("https://", "http://")):
        url = urls[0]
    else:  # names, not URLs (a hand-made deployment)
        with aws_errors("sqs:GetQueueUrl"):
            url = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
    with aws_errors("sqs:SendMessage"):
        await sqs.send_message(QueueUrl=url, MessageBody=record["body"], DelaySeconds=delay)
    log.info("record.requeued", message_id=record.get("messageId"), delay=delay)
