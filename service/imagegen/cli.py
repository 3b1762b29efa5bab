"""The `imagegen` command: `serve` runs the gateway, `generate` calls a running one."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path

from imagegen.config import embedded_settings, load_settings
from imagegen.errors import ConfigError, ImageGenError


def _serve(args: argparse.Namespace) -> int:
    from imagegen.server.app import serve

    try:
        settings = load_settings(args.config) if args.config else embedded_settings()
    except ConfigError as exc:
        print(f"imagegen: config error: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, host=args.host, port=args.port))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from imagegen.client import ImageGenClient

    provider_params = {"seed": args.seed} if args.seed is not None else None
    with ImageGenClient(args.target) as client:
        try:
            result = client.generate_images(
                args.prompt,
                model=args.model,
                n=args.n,
                size=args.size,
                quality=args.quality,
                style=args.style,
                timeout=args.timeout,
                provider_params=provider_params,
            )
        except ImageGenError as exc:
            print(f"imagegen: {exc}", file=sys.stderr)
            return 1
    out = Path(args.out)
    written = []
    for index, image in enumerate(result.images):
        if not image.HasField("data"):
            print(f"image {index}: {image.url}")
            continue
        path = out if len(result.images) == 1 else out.with_name(f"{out.stem}-{index}{out.suffix}")
        path.write_bytes(image.data)
        written.append(str(path))
    facts = result.cost
    print(
        f"wrote {', '.join(written) or 'nothing'}; cost ${facts.response_cost_text} "
        f"via {facts.provider}/{facts.provider_model} ({facts.model_id})"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagegen", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gRPC gateway")
    serve.add_argument("--config", help="config.yaml (default: the built-in offline config)")
    serve.add_argument("--host", default=None, help="listen address (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default 50051)")
    serve.set_defaults(run=_serve)

    generate = commands.add_parser("generate", help="generate images through a running gateway")
    generate.add_argument("prompt")
    generate.add_argument("--model", default=None)
    generate.add_argument("--n", type=int, default=None)
    generate.add_argument("--size", default=None)
    generate.add_argument("--quality", default=None)
    generate.add_argument("--style", default=None)
    generate.add_argument("--seed", type=int, default=None, help="provider_params.seed")
    generate.add_argument("--timeout", type=float, default=120.0, help="seconds")
    generate.add_argument("--out", default="image.png", help="output file (numbered when n > 1)")
    generate.add_argument("--target", default="localhost:50051", help="gateway address")
    generate.set_defaults(run=_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
