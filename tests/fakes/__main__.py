"""Run one fake standalone: ``python -m tests.fakes openai|azure|xinference --port N``.

Meant for manual poking with curl and for benchmarks; tests start fakes in-process instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Callable

from .azure import AzureFake
from .base import FakeProvider
from .openai import OpenAIFake
from .xinference import XinferenceFake

FACTORIES: dict[str, Callable[[argparse.Namespace], FakeProvider]] = {
    "openai": lambda a: OpenAIFake(
        **({"api_key": a.api_key} if a.api_key else {}), self_hosted_urls=True
    ),
    "azure": lambda a: AzureFake(
        **({"api_key": a.api_key} if a.api_key else {}), self_hosted_urls=True
    ),
    "xinference": lambda a: XinferenceFake(api_key=a.api_key),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes", description=__doc__)
    parser.add_argument("provider", choices=sorted(FACTORIES))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default=None, help="override the fake's expected key")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    fake = FACTORIES[args.provider](args)
    fake.delay = args.delay
    url = await fake.start(args.host, args.port)
    print(url, flush=True)
    done = asyncio.Event()
    # SIGTERM (benchmark harnesses, `kill`) shuts down as cleanly as Ctrl+C does.
    with contextlib.suppress(NotImplementedError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    try:
        await done.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
