"""The lake's layout: keys built and parsed in one place."""

from __future__ import annotations

import pytest

from aerofs_pipelines.lake import layout


def test_keys_of_a_batch() -> None:
    assert layout.manifest_key("b1") == "manifests/b1.json"
    assert (
        layout.table_key("orders", "b1", "in/orders.csv")
        == "tables/orders/batch=b1/in/orders.parquet"
    )
    assert (
        layout.table_key("orders", "b1", "orders.csv", "0123456789ab")
        == "tables/orders/batch=b1/orders.0123456789ab.parquet"
    )
    assert layout.rejects_key("orders", "b1", "orders.tsv") == (
        "rejects/orders/batch=b1/orders.rejects.parquet"
    )
    assert layout.text_stats_key("b1", "notes.txt") == "text_stats/batch=b1/notes.txt.json"


def test_a_table_key_parses_back() -> None:
    key = layout.table_key("orders", "day-1", "sub/orders.csv")
    assert layout.parse_table_key(key) == layout.TableFile("orders", "day-1", "sub/orders.parquet")


def test_unregistered_files_have_their_own_area() -> None:
    key = layout.table_key("sales", "b1", "sales.csv", "0123456789ab", registered=False)
    assert key == "unregistered/tables/sales/batch=b1/sales.0123456789ab.parquet"
    assert layout.parse_table_key(key) == layout.TableFile(
        "sales", "b1", "sales.0123456789ab.parquet", registered=False
    )
    assert layout.rejects_key("sales", "b1", "sales.csv", registered=False) == (
        "unregistered/rejects/sales/batch=b1/sales.rejects.parquet"
    )


@pytest.mark.parametrize(
    "key",
    [
        "tables/orders/batch=b1/.orders.parquet.tmp-1@h-x",  # a writer's temporary
        "tables/orders/b1/orders.parquet",  # no batch= folder
        "tables/orders/batch=b1/orders.csv",
        "rejects/orders/batch=b1/orders.rejects.parquet",
        "tables/orders",
        "tables/orders/metadata/00001-x.metadata.json",  # the Iceberg table's metadata
    ],
)
def test_other_keys_are_not_tables(key: str) -> None:
    assert layout.parse_table_key(key) is None


def test_output_names_too_long_for_a_filesystem_or_s3() -> None:
    fine = layout.table_key("d", "b", "x.csv")
    assert layout.output_problem("x.csv", [fine]) is None
    long_name = "n" * (layout.MAX_OUTPUT_NAME_BYTES + 1)
    assert "file name too long" in str(layout.output_problem("f", [f"tables/d/{long_name}"]))
    deep = "/".join(["folder"] * 150)
    assert "path too long" in str(layout.output_problem("f", [deep]))
