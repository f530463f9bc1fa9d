"""The dataset registry: file names to datasets, the YAML format, its errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aerofs_pipelines.registry import dataset_name_from_stem, load_registry, parse_registry


def test_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = load_registry()
    m = reg.match("ORDERS_2024.CSV")
    assert (m.dataset, m.pattern) == ("orders", "orders*.csv")
    assert reg.match("Sales (EU) 2024.csv").dataset == "sales_eu_2024"
    assert dataset_name_from_stem("2024-report.csv") == "ds_2024_report"
    assert reg.match("x.csv").spec is None  # no pattern: inferred
    spec = reg.get("orders")
    schema = spec.arrow_schema() if spec is not None else None
    assert schema is not None and schema.field("order_id").type == "int64"
    with pytest.raises(ValueError, match="unknown check 'between'"):
        parse_registry(
            "datasets:\n  d:\n    patterns: [d.csv]\n    columns:\n"
            "      a: {type: int64, checks: {between: 3}}\n"
        )
    with pytest.raises(ValueError, match="not one of"):
        parse_registry("datasets:\n  d:\n    patterns: [d.csv]\n    columns: {a: decimal}\n")
    custom = tmp_path / "reg.yaml"
    custom.write_text("datasets:\n  logs:\n    patterns: ['*.csv']\n    columns: {a: int64}\n")
    monkeypatch.setenv("AEROFS_DATASETS", str(custom))
    assert load_registry().match("anything.csv").dataset == "logs"


def test_a_dataset_pins_part_of_its_dialect() -> None:
    reg = parse_registry(
        "datasets:\n  eu:\n    patterns: [eu*.csv]\n"
        "    dialect: {delimiter: ';', decimal: ',', null_values: [NA, '-']}\n"
        "    columns: {a: float64}\n"
    )
    spec = reg.get("eu")
    assert spec is not None
    assert spec.dialect == {"delimiter": ";", "decimal": ",", "null_values": ["NA", "-"]}
    assert (
        reg.get("eu") is not None
        and parse_registry("datasets:\n  d:\n    patterns: [d.csv]\n    columns: {a: int64}\n")
        .datasets[0]
        .dialect
        == {}
    )


@pytest.mark.parametrize(
    ("dialect", "message"),
    [
        ("{delimitor: ';'}", 'unknown dialect option "delimitor"'),
        ("{encoding: ebcdic-9}", "unknown encoding"),
        ("{quote: ';', delimiter: ';'}", "part of the delimiter"),
        ("[';']", "expected a mapping of options"),
    ],
)
def test_a_bad_dialect_block_is_refused_where_it_is(dialect: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_registry(
            f"datasets:\n  d:\n    patterns: [d.csv]\n    dialect: {dialect}\n"
            "    columns: {a: int64}\n"
        )
    assert "datasets.d.dialect" in str(info.value)


def test_unknown_dataset_keys_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown keys \['delimiter'\]"):
        parse_registry(
            "datasets:\n  d:\n    patterns: [d.csv]\n    delimiter: ';'\n    columns: {a: int64}\n"
        )


def test_on_schema_change_is_evolve_unless_frozen() -> None:
    base = "datasets:\n  d:\n    patterns: [d.csv]\n    columns: {a: int64}\n"
    assert parse_registry(base).datasets[0].on_schema_change == "evolve"
    frozen = parse_registry(base + "    on_schema_change: freeze\n")
    assert frozen.datasets[0].on_schema_change == "freeze"
    with pytest.raises(ValueError, match=r"datasets\.d\.on_schema_change: 'rewrite' is not one of"):
        parse_registry(base + "    on_schema_change: rewrite\n")


@pytest.mark.parametrize(
    ("text", "every"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("1d", timedelta(days=1)),
        (" 2 w ", timedelta(weeks=2)),
    ],
)
def test_expected_every_is_a_duration(text: str, every: timedelta) -> None:
    base = "datasets:\n  d:\n    patterns: [d.csv]\n"
    assert parse_registry(base).datasets[0].expected_every is None
    (spec,) = parse_registry(base + f"    expected_every: '{text}'\n").datasets
    assert spec.expected_every == every


@pytest.mark.parametrize("text", ["0h", "1", "1y", "-1d", "daily", "1.5h"])
def test_expected_every_refuses_what_is_not_a_duration(text: str) -> None:
    base = "datasets:\n  d:\n    patterns: [d.csv]\n"
    with pytest.raises(ValueError, match=r"datasets\.d\.expected_every: .* is not a duration"):
        parse_registry(base + f"    expected_every: '{text}'\n")
    with pytest.raises(ValueError, match=r"datasets\.d\.expected_every: '59s' is under a minute"):
        parse_registry(base + "    expected_every: 59s\n")


def test_a_dataset_may_declare_no_columns() -> None:
    (spec,) = parse_registry("datasets:\n  events:\n    patterns: [events*.csv]\n").datasets
    assert spec.columns == () and spec.arrow_schema() is None
    assert spec.on_schema_change == "evolve"
    with pytest.raises(ValueError, match="columns: expected a mapping"):
        parse_registry("datasets:\n  d:\n    patterns: [d.csv]\n    columns: [a, b]\n")


def test_arrow_types_have_one_registry_name() -> None:
    import pyarrow as pa

    from aerofs_pipelines.registry.model import registry_type

    assert registry_type(pa.float64()) == "float64"
    assert registry_type(pa.bool_()) == "bool"
    assert registry_type(pa.large_string()) == "string"
    assert registry_type(pa.date32()) == "date32"
    assert registry_type(pa.timestamp("us")) == "timestamp[us]"
    assert registry_type(pa.timestamp("us", tz="UTC")) is None
    assert registry_type(pa.decimal128(10, 2)) is None


def test_types_a_lake_table_cannot_hold_are_refused_with_the_alternative() -> None:
    with pytest.raises(ValueError, match=r"timestamp\[ns\]'.*use timestamp\[us\]"):
        parse_registry(
            "datasets:\n  d:\n    patterns: [d.csv]\n    columns: {t: 'timestamp[ns]'}\n"
        )
    # values past 2**63 - 1 could be parsed, but no Iceberg type holds them
    with pytest.raises(ValueError, match=r"'uint64'.*no unsigned 64-bit integer: use int64"):
        parse_registry("datasets:\n  d:\n    patterns: [d.csv]\n    columns: {n: uint64}\n")
    (spec,) = parse_registry(
        "datasets:\n  d:\n    patterns: [d.csv]\n    columns: {n: uint32}\n"
    ).datasets
    assert spec.columns[0].type == "uint32"
