"""``aerofs ingest PATH... --batch ID``: land files as one complete batch, into the
landing zone directly, or with ``--url`` through a gateway's batch API.

Registered by :mod:`aerofs_pipelines.cli`; imports only the standard library at module
level (the storage layer is imported when the command runs).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _token(args: argparse.Namespace) -> str:
    from aerofs_pipelines import config

    token = sys.stdin.readline().strip() if args.token_stdin else config.api_token() or ""
    if not token:
        args.subparser.error("--url needs a token: --token-stdin, or AEROFS_TOKEN")
    return token


def cmd_ingest_remote(args: argparse.Namespace) -> int:
    from aerofs_pipelines.cli.progress import ProgressBar, should_show
    from aerofs_pipelines.landing.remote import ingest_remote

    token = _token(args)
    bar: ProgressBar | None = None

    def progress(sent: int, total: int) -> None:
        nonlocal bar
        if bar is None and should_show(sys.stderr, total):
            bar = ProgressBar(total, show_rows=False)
        if bar is not None:
            bar(sent, 0)

    try:
        result = ingest_remote(list(args.paths), args.batch, args.url, token, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        doc = {
            "batch_id": result.batch_id,
            "url": result.url,
            "files": [{"name": n, "size": s, "digest": d} for n, s, d in result.files],
            "bytes": result.bytes,
            "created": result.created,
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        return 0
    print(f"batch {result.batch_id}: {len(result.files)} file(s), {result.bytes:,} bytes")
    state = "complete" if result.created else "already complete with these files"
    print(f"  -> {result.url} ({state})")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from aerofs_pipelines.landing.ingest import ingest

    if args.url is not None:
        if args.landing is not None:
            args.subparser.error("give --landing or --url, not both")
        return cmd_ingest_remote(args)
    if args.token_stdin:
        args.subparser.error("--token-stdin goes with --url")
    result = ingest(list(args.paths), args.batch, args.landing)
    if args.json:
        doc = {
            "batch_id": result.batch_id,
            "landing": result.landing,
            "files": [{"name": n, "size": s} for n, s in result.files],
            "bytes": result.bytes,
            "cleared": result.cleared,
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        return 0
    print(f"batch {result.batch_id}: {len(result.files)} file(s), {result.bytes:,} bytes")
    print(f"  -> {result.landing}/{result.batch_id}/ (complete)")
    if result.cleared:
        print(f"  removed {result.cleared} leftover file(s) of an interrupted ingest")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``ingest`` to the ``aerofs`` parser."""
    p = sub.add_parser(
        "ingest",
        help="copy files into the landing zone as one batch",
        description="Copy files (and the files of folders) into <landing>/<batch>/, then "
        "write the _SUCCESS marker last, so the batch appears complete at once.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to ingest")
    p.add_argument("--batch", required=True, metavar="ID", help="the new batch id")
    p.add_argument(
        "--landing",
        metavar="URL",
        help="landing zone folder or s3://bucket/prefix (default: AEROFS_LANDING)",
    )
    p.add_argument(
        "--url",
        metavar="URL",
        help="land through the batch API of the gateway at URL (e.g. https://aerofs.example); "
        "needs a launcher's token",
    )
    p.add_argument(
        "--token-stdin",
        action="store_true",
        help="with --url: read the API token from stdin (default: AEROFS_TOKEN)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_ingest, subparser=p)
