"""The ``ffapi`` command: demo, local, plan, doctor, bootstrap, worker, status."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from core.errors import FfapiError
from handlers.demo import DemoOptions, run_demo
from handlers.doctor import run_doctor
from handlers.plan import PlanOptions, run_plan
from handlers.runtime import open_runtime
from handlers.service import LocalStack, run_local, run_worker
from infra.bootstrap import bootstrap
from infra.ffmpeg import MissingBinary
from infra.logs import configure_logging
from infra.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ffapi", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run one job end to end on the embedded emulator")
    demo.add_argument("--input", type=Path, help="your media file (default: a generated clip)")
    demo.add_argument("--preset", help="output preset (default: web-hls; see core/presets.toml)")
    demo.add_argument("--out", type=Path, help="copy the job's outputs into this directory")
    demo.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the job")
    demo.add_argument("-v", "--verbose", action="store_true", help="show the worker's JSON logs")

    local = sub.add_parser("local", help="embedded emulator + resources + worker, until Ctrl-C")
    local.add_argument("--concurrency", type=int)

    sub.add_parser("bootstrap", help="create buckets, queues, topic, table (idempotent)")

    worker = sub.add_parser("worker", help="long-poll the jobs queue and run jobs")
    worker.add_argument("--concurrency", type=int, help="jobs at once (FFAPI_WORKER_CONCURRENCY)")
    worker.add_argument(
        "--http-port", "--metrics-port", type=int, dest="http_port",
        help="serve /healthz and /metrics on this port (FFAPI_HTTP_PORT; 0: off)",
    )  # fmt: skip

    plan = sub.add_parser("plan", help="probe an input and print the job's plan; encode nothing")
    plan.add_argument("target", type=Path, help="a media file, or a JobRequest JSON (S3 input)")
    plan.add_argument("--preset", help="preset to plan with (default: the request's or default)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.add_argument("--accel", choices=["gpu", "gpu-decode", "cpu"], default="cpu",
                      help="plan for this accelerator tier (default: cpu)")  # fmt: skip

    doctor = sub.add_parser("doctor", help="probe the GPU/CPU tiers; say what jobs run on")
    doctor.add_argument("--json", action="store_true", help="print the probe as JSON")

    status = sub.add_parser("status", help="print a job's record")
    status.add_argument("job_id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    quiet = args.command == "demo" and not args.verbose
    configure_logging("WARNING" if quiet else settings.log_level, settings.log_format)
    try:
        return asyncio.run(_dispatch(args, settings))
    except MissingBinary as exc:
        print(f"ffapi: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "demo":
        options = DemoOptions(args.input, args.preset, args.out, args.timeout)
        if options.input and not options.input.is_file():
            print(f"ffapi: {options.input} is not a file", file=sys.stderr)
            return 2
        return await run_demo(options, settings)
    if args.command == "plan":
        if not args.target.is_file():
            print(f"ffapi: {args.target} is not a file", file=sys.stderr)
            return 2
        try:
            planned = PlanOptions(args.target, args.preset, args.json, args.accel)
            return await run_plan(planned, settings)
        except FfapiError as exc:
            print(f"ffapi: {exc.code}: {exc.message}", file=sys.stderr)
            return 2
    if args.command == "doctor":
        return await run_doctor(settings, args.json)
    if args.command == "bootstrap":
        resources = await asyncio.to_thread(bootstrap, settings)
        print(json.dumps(resources.as_dict(), indent=2))
        return 0
    if args.command == "worker":
        if args.http_port is not None:
            settings = settings.model_copy(update={"http_port": args.http_port})
        return await run_worker(settings, args.concurrency)
    if args.command == "local":
        return await run_local(settings, args.concurrency, on_ready=_print_local)
    if args.command == "status":
        async with open_runtime(settings, with_queue=False) as runtime:
            record = await runtime.jobs.get(args.job_id)
        if record is None:
            print(f"ffapi: no job {args.job_id}", file=sys.stderr)
            return 1
        print(json.dumps(record, indent=2, sort_keys=True))
        return 0
    raise AssertionError(args.command)


def _print_local(stack: LocalStack) -> None:
    settings_prefix = stack.watch_prefix
    print(f"emulator at {stack.endpoint_url}; upload into "
          f"s3://{stack.resources.input_bucket}/{settings_prefix} to start a job, e.g.\n"
          f"  AWS_ENDPOINT_URL={stack.endpoint_url} AWS_ACCESS_KEY_ID=testing "
          f"AWS_SECRET_ACCESS_KEY=testing aws s3 cp clip.mp4 "
          f"s3://{stack.resources.input_bucket}/{settings_prefix}", flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
