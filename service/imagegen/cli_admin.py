"""`imagegen keys create|list|revoke` and `imagegen spend`: admin commands over gRPC.

They talk to a running gateway (KeyAdmin and QuerySpend), with the master key from
--master-key or IMAGEGEN_MASTER_KEY; TLS with --ca (and --cert/--key for mTLS).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

from imagegen.errors import ImageGenError

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_since(text: str) -> float:
    """ "7d", "12h", "30m" → the Unix time that long ago."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 7d, 12h or 30m")
    return time.time() - int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table: left-aligned text, right-aligned numbers."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i > 0 and _numeric(c) else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def _numeric(cell: str) -> bool:
    return bool(re.fullmatch(r"-?[\d.]+", cell))


def _client(args: argparse.Namespace, key: str | None) -> Any:
    from imagegen.client import ImageGenClient

    return ImageGenClient(
        args.target,
        api_key=key,
        root_certificates=args.ca,
        certificate_chain=args.cert,
        private_key=args.key_file,
    )


def _master(args: argparse.Namespace) -> str | None:
    return args.master_key or os.environ.get("IMAGEGEN_MASTER_KEY")


def _keys_create(args: argparse.Namespace) -> int:
    from imagegen._gen.v1 import key_admin_pb2 as kpb

    periods = {None: kpb.BUDGET_PERIOD_UNSPECIFIED, "daily": kpb.BUDGET_PERIOD_DAILY}
    periods["monthly"] = kpb.BUDGET_PERIOD_MONTHLY
    with _client(args, _master(args)) as client:
        created = client.create_key(
            args.alias,
            models=args.models or [],
            rpm=args.rpm or 0,
            ipm=args.ipm or 0,
            max_parallel_requests=args.max_parallel_requests or 0,
            max_parallel_streams=args.max_parallel_streams or 0,
            max_budget=args.max_budget or "",
            budget_period=periods[args.budget_period],
            tags=args.tags or [],
            allow_request_credentials=args.allow_request_credentials,
        )
    print(f"created key {created.info.alias} ({created.info.key_id}); shown once:")
    print(created.key)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    with _client(args, _master(args)) as client:
        keys = client.list_keys()
    rows = [
        [
            k.alias,
            k.key_id,
            ",".join(k.models) or "*",
            str(k.rpm or "-"),
            str(k.ipm or "-"),
            k.max_budget or "-",
            k.period_spend,
            ",".join(k.tags),
            "revoked" if k.revoked else "active",
            k.source,
        ]
        for k in keys
    ]
    headers = ["alias", "key_id", "models", "rpm", "ipm", "budget", "spent", "tags", "state"]
    print(table([*headers, "source"], rows))
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    with _client(args, _master(args)) as client:
        info = client.revoke_key(args.alias)
    print(f"revoked key {info.alias} ({info.key_id})")
    return 0


def _spend(args: argparse.Namespace) -> int:
    with _client(args, args.api_key or _master(args)) as client:
        groups = client.query_spend(args.by, since=args.since)
    headers = [args.by, "requests", "errors", "images", "cost_usd", "unknown_cost"]
    rows = [
        [
            g.group or "-",
            str(g.requests),
            str(g.errors),
            str(g.images),
            g.cost,
            str(g.unknown_cost_count),
        ]
        for g in groups
    ]
    # What edits took in (input images and their total size), when there were edits.
    if args.by == "operation" or any(g.input_images for g in groups):
        headers += ["input_images", "input_bytes"]
        for row, g in zip(rows, groups, strict=True):
            row += [str(g.input_images), str(g.input_bytes)]
    print(table(headers, rows))
    return 0


def _guarded(run: Any) -> Any:
    def call(args: argparse.Namespace) -> int:
        try:
            code: int = run(args)
        except ImageGenError as exc:
            print(f"imagegen: {exc.reason}: {exc.message}", file=sys.stderr)
            return 1
        return code

    return call


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="localhost:50051", help="gateway address")
    parser.add_argument("--master-key", default=None, help="default: $IMAGEGEN_MASTER_KEY")
    parser.add_argument("--ca", default=None, help="CA of the gateway's TLS certificate (PEM)")
    parser.add_argument("--cert", default=None, help="client certificate for mTLS (PEM)")
    parser.add_argument("--key-file", default=None, help="client private key for mTLS (PEM)")


def add_commands(commands: Any) -> None:
    """Add `keys` and `spend` to the imagegen command's subparsers."""
    keys = commands.add_parser("keys", help="manage virtual keys of a running gateway")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key (its secret is shown once)")
    create.add_argument("--alias", required=True)
    create.add_argument("--models", nargs="*", help="allowed model names (default: all)")
    create.add_argument("--rpm", type=int, default=None, help="requests per minute")
    create.add_argument("--ipm", type=int, default=None, help="images per minute")
    create.add_argument(
        "--max-parallel-requests", type=int, default=None, help="calls in flight at once"
    )
    create.add_argument(
        "--max-parallel-streams", type=int, default=None, help="streams open at once"
    )
    create.add_argument("--max-budget", default=None, help="USD per budget period")
    create.add_argument("--budget-period", choices=["daily", "monthly"], default=None)
    create.add_argument("--tags", nargs="*")
    create.add_argument("--allow-request-credentials", action="store_true")
    _connection(create)
    create.set_defaults(run=_guarded(_keys_create))
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    _connection(listing)
    listing.set_defaults(run=_guarded(_keys_list))
    revoke = actions.add_parser("revoke", help="revoke a key by alias")
    revoke.add_argument("alias")
    _connection(revoke)
    revoke.set_defaults(run=_guarded(_keys_revoke))

    spend = commands.add_parser("spend", help="spend totals of a running gateway, as a table")
    spend.add_argument("--by", choices=["key", "model", "user", "tag", "operation"], default="key")
    spend.add_argument("--since", type=parse_since, default=None, help="e.g. 7d, 12h, 30m")
    spend.add_argument("--api-key", default=None, help="a virtual key: only its own spend")
    _connection(spend)
    spend.set_defaults(run=_guarded(_spend))
