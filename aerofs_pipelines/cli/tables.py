"""``aerofs tables list|show``: the lake's Iceberg tables, their schemas, snapshots and
rows per batch, read from the configured catalog (``lake.iceberg.open_catalog``)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from aerofs_pipelines.cli.errors import InputError
from aerofs_pipelines.cli.printing import emit_json, iso, print_table


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
