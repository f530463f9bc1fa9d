"""``aerofs datasets list|suggest``: the registry's datasets, and registry entries proposed
for a batch's unregistered table files (``registry.suggest``), read from the lake."""

from __future__ import annotations

import argparse
from typing import Any

from aerofs_pipelines.cli.errors import InputError
from aerofs_pipelines.cli.printing import emit_json, print_table


def cmd_list(args: argparse.Namespace) -> int:
    from aerofs_pipelines.registry import load_registry

    registry = load_registry()
    found = [
        {
            "dataset": d.name,
            "patterns": list(d.patterns),
            "columns": len(d.columns),
            "on_schema_change": d.on_schema_change,
        }
        for d in registry.datasets
    ]
    if args.json:
        emit_json({"registry": registry.source, "datasets": found})
        return 0
    print(f"registry: {registry.source}\n")
    print_table(
        [["DATASET", "PATTERNS", "COLUMNS", "ON SCHEMA CHANGE"]]
        + [
            [d.name, " ".join(d.patterns), str(len(d.columns) or "inferred"), d.on_schema_change]
            for d in registry.datasets
        ]
    )
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    from aerofs_pipelines import config
    from aerofs_pipelines.lake.layout import manifest_key, read_manifest
    from aerofs_pipelines.lake.storage import open_storage
    from aerofs_pipelines.landing.batches import check_batch_id
    from aerofs_pipelines.registry import load_registry
    from aerofs_pipelines.registry.suggest import suggest_datasets, suggestion_yaml

    try:
        check_batch_id(args.batch)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    lake = open_storage(config.lake_url())
    key = manifest_key(args.batch)
    if not lake.exists(key):
        raise InputError(
            f"batch {args.batch!r} has no manifest at {lake.uri(key)}: it has not been "
            "processed (yet), or AEROFS_LAKE names another lake"
        )
    files: list[dict[str, Any]] = read_manifest(lake, args.batch)["files"]

    def schema_of(output: str) -> Any:
        with lake.local_path(output) as path:
            return pq.read_schema(path)

    suggestions = suggest_datasets(files, load_registry(), schema_of)
    if args.json:
        emit_json(
            {
                "batch_id": args.batch,
                "datasets": {s.name: s.entry(args.batch) for s in suggestions},
                "files": {s.name: s.files for s in suggestions},
                "notes": [n for s in suggestions for n in s.notes],
            }
        )
    elif suggestions:
        print(suggestion_yaml(args.batch, suggestions), end="")
    else:
        print(f"# batch {args.batch}: every table file belongs to a registered dataset")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``datasets`` to the ``aerofs`` parser."""
    p = sub.add_parser(
        "datasets",
        help="the dataset registry; entries for unregistered files",
        description="The dataset registry (AEROFS_DATASETS, else the packaged datasets.yaml).",
    )
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    ls = dsub.add_parser("list", help="the registered datasets and their file patterns")
    ls.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ls.set_defaults(func=cmd_list)
    suggest = dsub.add_parser(
        "suggest",
        help="registry entries for a processed batch's unregistered table files",
        description="Print a ready-to-paste datasets.yaml entry (name, patterns, dialect, "
        "inferred column types) for each family of the batch's table files that no "
        "registry pattern matches, from what the pipeline recorded when it processed them.",
    )
    suggest.add_argument("batch", metavar="BATCH")
    suggest.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    suggest.set_defaults(func=cmd_suggest)
