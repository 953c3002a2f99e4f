"""What one upload costs the worker's process on the embedded stack.

    .venv/bin/python bench/emulator_puts.py [--objects 40] [--size-kb 100] [--concurrency 8]

The worker's own S3 adapter (``infra.storage.S3ObjectStore``) uploads small objects to the
in-process emulator, as a package's segments, pictures and playlists go up. Prints the wall
time per object and the CPU per object: the event loop's thread (botocore, aiohttp: the
client's share, which production pays too) and the whole process (moto's server threads
share the worker's interpreter on the embedded stack).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.runtime import open_runtime
from infra.bootstrap import bootstrap
from infra.emulator import embedded_emulator
from infra.logs import configure_logging
from infra.settings import Settings
from infra.storage import S3ObjectStore


async def main(objects: int, size: int, concurrency: int) -> None:
    configure_logging("WARNING")
    settings = Settings()
    with embedded_emulator(settings.region), tempfile.TemporaryDirectory() as tmp:
        await asyncio.to_thread(bootstrap, settings)
        segment = Path(tmp) / "seg-0-00001.m4s"
        segment.write_bytes(os.urandom(size))
        async with open_runtime(settings) as rt:
            store = S3ObjectStore(rt.clients.s3, concurrency)
            gate = asyncio.Semaphore(concurrency)

            async def put(n: int) -> None:
                async with gate:
                    key = f"bench/{n}.m4s"
                    await store.upload_file(segment, settings.output_bucket, key, "video/mp4", None)

            await asyncio.gather(*(put(-n - 1) for n in range(4)))  # connections, first calls
            wall, thread, process = time.perf_counter(), time.thread_time(), time.process_time()
            await asyncio.gather(*(put(n) for n in range(objects)))
            wall = time.perf_counter() - wall
            thread, process = time.thread_time() - thread, time.process_time() - process
    per = 1000 / objects
    print(f"{objects} objects of {size // 1000} kB, {concurrency} at a time")
    print(f"wall       {wall * per:.1f} ms an object")
    print(f"client cpu {thread * per:.1f} ms an object (the event loop's thread)")
    print(f"all cpu    {process * per:.1f} ms an object (with the emulator's threads)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=40)
    parser.add_argument("--size-kb", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.objects, args.size_kb * 1000, args.concurrency))
