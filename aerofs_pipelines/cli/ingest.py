"""``aerofs ingest PATH... --batch ID``: land files as one complete batch.

Registered by :mod:`aerofs_pipelines.cli`; imports only the standard library at module
level (the storage layer is imported when the command runs).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def cmd_ingest(args: argparse.Namespace) -> int:
    from aerofs_pipelines.landing.ingest import ingest

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
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_ingest)
