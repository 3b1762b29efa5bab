"""The `imagegen` command: `serve` runs the gateway, `generate` and `edit` call a running one."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagegen.cli_admin import add_commands
from imagegen.errors import ImageGenError
from imagegen.paths import DATA_DIR_ENV

if TYPE_CHECKING:
    from imagegen.config import Settings

# `imagegen generate` and the admin commands are gRPC calls: they work with the client-only
# install. `imagegen serve` imports the gateway, which needs the `server` extra.
SERVER_EXTRA_HINT = "pip install 'imagegen[server]'"
log = logging.getLogger("imagegen.cli")


def _check_config(args: argparse.Namespace) -> int:
    try:
        from imagegen.config_check import check_config_file
    except ModuleNotFoundError as exc:
        print(
            f"imagegen: checking a config needs the server's dependencies ({exc.name} is "
            f"missing): {SERVER_EXTRA_HINT}",
            file=sys.stderr,
        )
        return 2
    report = check_config_file(args.config)
    print(report.render())
    return 0 if report.ok else 1


def _serve(args: argparse.Namespace) -> int:
    try:
        from imagegen.config import embedded_settings
        from imagegen.config_check import check_config_file
        from imagegen.server.app import serve
    except ModuleNotFoundError as exc:
        print(
            f"imagegen: serving needs the server's dependencies ({exc.name} is missing): "
            f"{SERVER_EXTRA_HINT}",
            file=sys.stderr,
        )
        return 2

    if args.data_dir:
        # Through the environment so that worker processes resolve the same directory.
        os.environ[DATA_DIR_ENV] = str(Path(args.data_dir).resolve())
    if args.config:
        # The checks `imagegen check-config` prints: a model that cannot be served, a
        # refused key or a credential that cannot work stops the start, with the report.
        report = check_config_file(args.config)
        if report.settings is None or not report.ok:
            first = report.error or next(
                f"{report.source}: {f.where}: {f.detail}" for f in report.failures()
            )
            print(f"imagegen: config error: {first}", file=sys.stderr)
            print(report.render(), file=sys.stderr)
            return 2
        for finding in report.findings:
            if finding.status == "note":
                log.warning("config: %s: %s", finding.where, finding.detail)
        settings = report.settings
    else:
        settings = embedded_settings()
    if args.no_http:
        settings = settings.model_copy(
            update={"server": settings.server.model_copy(update={"http_port": None})}
        )
    if settings.server.workers > 1:
        return _serve_workers(settings, args)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings, host=args.host, port=args.port, http_port=args.http_port))
    except OSError as exc:
        # A port already taken: say which, without a traceback.
        print(f"imagegen: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


def _serve_workers(settings: Settings, args: argparse.Namespace) -> int:
    from imagegen.server.workers import WorkerFailedError, serve_workers

    try:
        serve_workers(settings, host=args.host, port=args.port, http_port=args.http_port)
    except ValueError as exc:
        print(f"imagegen: config error: {exc}", file=sys.stderr)
        return 2
    except WorkerFailedError as exc:
        print(f"imagegen: {exc}", file=sys.stderr)
        return 1
    return 0


def _generate(args: argparse.Namespace) -> int:
    from imagegen.client import ImageGenClient

    provider_params = {"seed": args.seed} if args.seed is not None else None
    out = Path(args.out)
    n = args.n or 1
    written: list[str] = []
    progress = _Progress(n)
    with ImageGenClient(args.target) as client:
        try:
            events = client.stream_generate_images(
                args.prompt,
                model=args.model,
                n=args.n,
                size=args.size,
                quality=args.quality,
                style=args.style,
                timeout=args.timeout,
                provider_params=provider_params,
            )
            for event in events:
                kind = event.WhichOneof("event")
                if kind == "accepted":
                    progress.show(
                        f"accepted by {event.accepted.provider} ({event.accepted.model_id})"
                    )
                elif kind == "progress":
                    progress.show(_progress_note(event.progress))
                elif kind == "image":
                    image = event.image
                    if image.HasField("url"):
                        print(f"image {image.index}: {image.url}")
                    else:
                        path = (
                            out
                            if n == 1
                            else out.with_name(f"{out.stem}-{image.index}{out.suffix}")
                        )
                        path.write_bytes(image.data)
                        written.append(str(path))
                    progress.image_done()
                elif kind == "summary":
                    cost = event.summary.cost
                    progress.finish()
                    print(
                        f"wrote {', '.join(written) or 'nothing'}; cost ${cost.response_cost} "
                        f"via {cost.provider}/{cost.provider_model} ({cost.model_id})"
                    )
        except ImageGenError as exc:
            progress.finish()
            print(f"imagegen: {exc}", file=sys.stderr)
            return 1
    return 0


def _edit(args: argparse.Namespace) -> int:
    from imagegen.client import ImageGenClient

    provider_params = {"seed": args.seed} if args.seed is not None else None
    images = [Path(args.image), *(Path(path) for path in args.reference)]
    extras: dict[str, object] = {}
    if args.outpaint:
        try:
            left, top, right, bottom = (int(side) for side in args.outpaint.split(","))
        except ValueError:
            print("imagegen: --outpaint takes LEFT,TOP,RIGHT,BOTTOM in pixels", file=sys.stderr)
            return 2
        extras["outpaint"] = {"left": left, "top": top, "right": right, "bottom": bottom}
    out = Path(args.out)
    try:
        with ImageGenClient(args.target) as client:
            result = client.edit_images(
                images,
                args.prompt,
                mask=Path(args.mask) if args.mask else None,
                operation=args.operation,
                model=args.model,
                n=args.n,
                size=args.size,
                quality=args.quality,
                timeout=args.timeout,
                provider_params=provider_params,
                **extras,
            )
    except (ImageGenError, OSError) as exc:
        print(f"imagegen: {exc}", file=sys.stderr)
        return 1
    written = []
    for image in result.images:
        if image.HasField("url"):
            print(f"image {image.index}: {image.url}")
            continue
        path = (
            out
            if len(result.images) == 1
            else out.with_name(f"{out.stem}-{image.index}{out.suffix}")
        )
        path.write_bytes(image.data)
        written.append(str(path))
    cost = result.response.cost
    print(
        f"wrote {', '.join(written) or 'nothing'}; cost ${cost.response_cost} "
        f"via {cost.provider}/{cost.provider_model} ({cost.model_id})"
    )
    return 0


def _progress_note(progress: Any) -> str:
    """ "generating… 12s", with the provider's job status where it reports one."""
    note = f"generating… {progress.elapsed.ToTimedelta().total_seconds():.0f}s"
    if progress.job_status:
        note += f" ({progress.job_status.replace('_', ' ')}"
        if progress.HasField("queue_position"):
            note += f", {progress.queue_position} ahead"
        if progress.HasField("percent"):
            note += f", {progress.percent:.0f}%"
        note += ")"
    return note


class _Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.live = sys.stderr.isatty()

    def show(self, note: str) -> None:
        if self.live:
            bar = "#" * self.done + "." * (self.total - self.done)
            print(f"\r[{bar}] {self.done}/{self.total} {note}\033[K", end="", file=sys.stderr)

    def image_done(self) -> None:
        self.done += 1
        self.show("")

    def finish(self) -> None:
        if self.live:
            print(file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagegen", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway (gRPC, and HTTP beside it)")
    serve.add_argument("--config", help="config.yaml (default: the built-in offline config)")
    serve.add_argument(
        "--host", default=None, help="listen address of both doors (default 0.0.0.0)"
    )
    serve.add_argument("--port", type=int, default=None, help="gRPC port (default 50051)")
    http = serve.add_mutually_exclusive_group()
    http.add_argument(
        "--http-port",
        type=int,
        default=None,
        help="OpenAI-compatible HTTP port (default 4000; 0 picks a free one)",
    )
    http.add_argument("--no-http", action="store_true", help="do not serve the HTTP door")
    serve.add_argument(
        "--data-dir",
        default=None,
        help=f"where default data files go, e.g. the spend log (default ${DATA_DIR_ENV}, "
        "else $XDG_STATE_HOME/imagegen, else ~/.local/state/imagegen)",
    )
    serve.set_defaults(run=_serve)

    check = commands.add_parser(
        "check-config",
        help="what a config will serve, what it refuses and why, and credentials that cannot "
        "be resolved (calls no provider; exit 1 when something cannot be served)",
    )
    check.add_argument("config", help="config.yaml (LiteLLM's shape)")
    check.set_defaults(run=_check_config)

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

    edit = commands.add_parser("edit", help="edit images through a running gateway")
    edit.add_argument("image", help="the image to edit (the one --mask applies to)")
    edit.add_argument(
        "prompt", nargs="?", default=None, help="what to do (some operations need none)"
    )
    edit.add_argument(
        "--reference", action="append", default=[], help="another input image (repeatable)"
    )
    edit.add_argument("--mask", default=None, help="PNG, fully transparent = edit")
    edit.add_argument(
        "--operation",
        default=None,
        help="edit (default), inpaint, outpaint, variation, remove_background, "
        "replace_background, upscale, vectorize, erase",
    )
    edit.add_argument("--outpaint", default=None, help="LEFT,TOP,RIGHT,BOTTOM pixels to add")
    edit.add_argument("--model", default=None)
    edit.add_argument("--n", type=int, default=None)
    edit.add_argument("--size", default=None)
    edit.add_argument("--quality", default=None)
    edit.add_argument("--seed", type=int, default=None, help="provider_params.seed")
    edit.add_argument("--timeout", type=float, default=120.0, help="seconds")
    edit.add_argument("--out", default="edited.png", help="output file (numbered when n > 1)")
    edit.add_argument("--target", default="localhost:50051", help="gateway address")
    edit.set_defaults(run=_edit)
    add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
