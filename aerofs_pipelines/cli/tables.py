"""``aerofs tables list|show``: the lake's Iceberg tables, their schemas, snapshots and
rows per batch, read from the configured catalog (``lake.iceberg.open_catalog``);
``aerofs tables adopt``: the batches of a lake from before the tables brought into them
(``lake.adopt``)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from aerofs_pipelines.cli.errors import InputError
from aerofs_pipelines.cli.printing import emit_json, iso, print_table, render_text


def _when(ms: int) -> str:
    return iso(datetime.fromtimestamp(ms / 1000, tz=UTC))


def cmd_list(args: argparse.Namespace) -> int:
    from aerofs_pipelines.lake import iceberg

    found: list[dict[str, Any]] = []
    rows = [["TABLE", "BATCHES", "ROWS", "SNAPSHOTS", "UPDATED", "LOCATION"]]
    for table in iceberg.all_tables(iceberg.open_catalog()):
        ident = table.name()
        per_batch = iceberg.batch_rows(table)
        current = table.current_snapshot()
        updated = _when(current.timestamp_ms) if current else None
        name, batches, total = ".".join(ident), len(per_batch), sum(per_batch.values())
        snapshots, where = len(table.snapshots()), table.location()
        found.append(
            {
                "table": name,
                "batches": batches,
                "rows": total,
                "snapshots": snapshots,
                "updated": updated,
                "location": where,
            }
        )
        rows.append([name, str(batches), str(total), str(snapshots), updated or "-", where])
    if args.json:
        emit_json({"tables": found})
    else:
        print_table(rows)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from pyiceberg.exceptions import NoSuchTableError

    from aerofs_pipelines.lake import iceberg

    try:
        table = iceberg.open_catalog().load_table(iceberg.table_identifier(args.dataset))
    except NoSuchTableError:
        raise InputError(
            f"no table {iceberg.NAMESPACE}.{args.dataset} (no batch of it has landed yet)"
        ) from None
    doc = iceberg.describe(table)
    if args.json:
        emit_json(doc)
        return 0
    print(f"{doc['table']}  {doc['location']}\n")
    print_table(
        [["COLUMN", "TYPE", "REQUIRED"]]
        + [[c["name"], c["type"], "yes" if c["required"] else "no"] for c in doc["schema"]]
    )
    print()
    print_table(
        [["SNAPSHOT", "WHEN", "OPERATION", "BATCH"]]
        + [
            [
                str(s["snapshot_id"]),
                _when(s["timestamp_ms"]),
                s["operation"] or "-",
                s["batch"] or "-",
            ]
            for s in doc["snapshots"]
        ]
    )
    print()
    print_table(
        [["BATCH", "ROWS"]] + [[b, str(n)] for b, n in sorted(doc["rows_per_batch"].items())]
    )
    return 0


_DONE = {"adopt": "adopted", "superseded": "deleted", "move": "moved"}
_PLANNED = {"adopt": "to adopt", "superseded": "to delete", "move": "to move"}
_WHAT = {
    "adopt": "into aerofs.{name}, one snapshot",
    "superseded": "earlier versions: aerofs.{name} holds the batch from a later run",
    "move": "no dataset of that name: into unregistered/tables/{name}/",
}


def cmd_adopt(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from aerofs_pipelines import config
    from aerofs_pipelines.lake import iceberg
    from aerofs_pipelines.lake.adopt import adopt_old_batches
    from aerofs_pipelines.lake.storage import open_storage
    from aerofs_pipelines.registry import load_registry

    lake = open_storage(config.lake_url())
    report = adopt_old_batches(lake, iceberg.open_catalog(), load_registry(), dry_run=args.dry_run)
    if args.json:
        emit_json(
            {
                "lake": lake.uri(),
                "dry_run": report.dry_run,
                "batches": [asdict(b) for b in report.batches],
                "failed": len(report.failed),
                "skipped": list(report.skipped),
            }
        )
        return 1 if report.failed else 0
    for note in report.skipped:
        print(f"left alone: {note}")
    if not report.batches:
        print(
            f"nothing to adopt in {lake.uri()}: every table file is its table's, or "
            "newer than its table"
        )
        return 0
    states = _PLANNED if report.dry_run else _DONE
    print_table(
        [["BATCH", "NAME", "FILES", "ROWS", "OUTCOME", "WHAT"]]
        + [
            [
                render_text(b.batch_id, spaces=False),
                b.name,
                str(len(b.files)),
                str(b.rows) if b.action == "adopt" and not b.problem else "-",
                "failed" if b.problem else states[b.action],
                b.problem or _WHAT[b.action].format(name=b.name),
            ]
            for b in report.batches
        ]
    )
    if report.dry_run:
        print("\n(dry run: nothing changed; run without --dry-run to do it)")
    if report.failed:
        print(
            f"\n{len(report.failed)} batch(es) not adopted, left as they were (see WHAT): "
            "convert their files to the dataset's schema, or remove them, and run again",
            file=sys.stderr,
        )
        return 1
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``tables`` to the ``aerofs`` parser."""
    p = sub.add_parser(
        "tables",
        help="the lake's Iceberg tables",
        description="The lake's tables (one Apache Iceberg table per dataset, aerofs.<dataset>) "
        "in the configured catalog.",
    )
    tsub = p.add_subparsers(dest="tables_command", metavar="ACTION", required=True)
    ls = tsub.add_parser("list", help="every table: batches, rows, snapshots")
    ls.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ls.set_defaults(func=cmd_list)
    show = tsub.add_parser("show", help="one table: schema, snapshots, rows per batch")
    show.add_argument("dataset", metavar="DATASET")
    show.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    show.set_defaults(func=cmd_show)
    adopt = tsub.add_parser(
        "adopt",
        help="bring the batches of a lake from before the tables into them",
        description="Find the batches that releases before the tables left under "
        "tables/<name>/batch=<id>/ (Parquet no table references, older than the table) and "
        "commit each registered dataset's batch to its table (a batch_id column added), "
        "delete those its table holds from a later run, and move the files of names no "
        "dataset claims to unregistered/tables/. A batch that does not fit its dataset's "
        "schema is named and left as it is (exit 1). Running it again does nothing.",
    )
    adopt.add_argument(
        "--dry-run", action="store_true", help="print what would be done; change nothing"
    )
    adopt.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    adopt.set_defaults(func=cmd_adopt)
