"""Registry entries proposed for unregistered files: patterns, names, types, dialect."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest
import yaml

from aerofs_pipelines.registry import parse_registry
from aerofs_pipelines.registry.suggest import file_pattern, suggest_datasets, suggestion_yaml

REGISTERED = parse_registry("datasets:\n  sales:\n    patterns: [sales.tsv]\n")


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("Sales-2024-01.csv", "sales-*.csv"),
        ("orders_20240101_eu.csv", "orders_*_eu.csv"),
        ("export v2.3.csv", "export v*.csv"),
        ("in/sub/report.csv", "report.csv"),
        ("2024-01-31.csv", "2024-01-31.csv"),  # nothing but a date: the name itself
        ("weird[1]?.csv", "weird[[]*][?].csv"),  # glob characters taken literally
        ("README", "readme"),
    ],
)
def test_file_patterns_cover_a_family_of_exports(name: str, pattern: str) -> None:
    import fnmatch
    from pathlib import PurePosixPath

    assert file_pattern(name) == pattern
    assert fnmatch.fnmatchcase(PurePosixPath(name).name.lower(), pattern)


def _file(name: str, *, registered: bool | None = False, **dialect: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "table",
        "status": "processed",
        "registered": registered,
        "output": f"out/{name}",
        "dialect": json.dumps({"delimiter": ",", "confidence": 0.9, "pinned": [], **dialect}),
    }


def test_one_entry_per_family_with_widened_types_and_the_dialect() -> None:
    schemas = {
        "out/sales-01.csv": pa.schema(
            [("id", pa.int64()), ("amount", pa.int64()), ("batch_id", pa.string())]
        ),
        "out/sales-02.csv": pa.schema(
            [("id", pa.int64()), ("amount", pa.float64()), ("at", pa.timestamp("us", "UTC"))]
        ),
        "out/regions.csv": pa.schema([("region", pa.large_string())]),
    }
    files = [
        _file("sales-01.csv", delimiter=";", decimal=","),
        _file("sales-02.csv", delimiter=";", decimal=","),
        _file("regions.csv"),
        _file("orders.csv", registered=True),  # a registered dataset's: not proposed
        {**_file("broken-01.csv"), "status": "quarantined"},
    ]
    found = suggest_datasets(files, REGISTERED, schemas.__getitem__)
    # "sales" is taken by the registry: the proposal gets a free name
    assert [(s.name, s.patterns, s.files) for s in found] == [
        ("sales_2", ["sales-*.csv"], ["sales-01.csv", "sales-02.csv"]),
        ("regions", ["regions.csv"], ["regions.csv"]),
    ]
    sales = found[0]
    assert sales.dialect == {"delimiter": ";", "decimal": ","}
    assert sales.columns == {"id": "int64", "amount": "float64", "at": "string"}
    assert sales.notes == [
        "sales-02.csv: column 'at' is timestamp[us, tz=UTC]; suggested as string"
    ]
    assert found[1].dialect == {}

    text = suggestion_yaml("b1", found)
    assert "# note: sales-02.csv: column 'at'" in text
    parsed = parse_registry(text)  # ready to paste: a valid registry by itself
    spec = parsed.get("sales_2")
    assert spec is not None and spec.dialect == {"delimiter": ";", "decimal": ","}
    assert parsed.match("sales-03.csv").dataset == "sales_2"
    assert yaml.safe_load(text)["datasets"]["regions"]["columns"] == {"region": {"type": "string"}}


def test_nothing_to_suggest_when_every_file_is_registered() -> None:
    assert suggest_datasets([_file("sales.tsv", registered=True)], REGISTERED, dict().get) == []
