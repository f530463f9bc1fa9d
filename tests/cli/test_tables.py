"""``aerofs tables list|show|adopt``: the lake's Iceberg tables from the configured catalog,
and the batches of a lake from before them brought in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aerofs_pipelines import cli, kernels
from aerofs_pipelines.lake.iceberg import commit_batch, open_catalog
from aerofs_pipelines.registry import load_registry
from tests.support.lake_files import pre_table_file


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_and_show(lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tables", "list", "--json")
    assert (code, json.loads(out)) == (0, {"tables": []})  # no catalog entries yet

    location = lake / "tables" / "orders"
    for batch, text in (("b1", "id,amount\n1,1.5\n2,2.5\n"), ("b2", "id,amount\n3,3.5\n")):
        src = tmp_path / f"{batch}.csv"
        src.write_text(text)
        dst = location / f"batch={batch}" / "orders.parquet"
        dst.parent.mkdir(parents=True)
        kernels.csv_to_parquet(src, dst, constant_columns={"batch_id": batch})
        commit_batch(open_catalog(), "orders", batch, [str(dst)], location=str(location))

    code, out, _ = run(capsys, "tables", "list", "--json")
    [table] = json.loads(out)["tables"]
    assert code == 0
    assert (table["table"], table["batches"], table["rows"], table["snapshots"]) == (
        "aerofs.orders",
        2,
        3,
        2,
    )
    code, out, _ = run(capsys, "tables", "list")
    assert code == 0 and out.splitlines()[1].split()[:4] == ["aerofs.orders", "2", "3", "2"]

    code, out, _ = run(capsys, "tables", "show", "orders", "--json")
    doc = json.loads(out)
    assert [c["name"] for c in doc["schema"]] == ["id", "amount", "batch_id"]
    assert [s["batch"] for s in doc["snapshots"]] == ["b1", "b2"]
    assert doc["rows_per_batch"] == {"b1": 2, "b2": 1}
    code, out, _ = run(capsys, "tables", "show", "orders")
    assert code == 0 and "batch_id" in out and "b2" in out

    code, out, err = run(capsys, "tables", "show", "nope")
    assert code == 1 and "no table aerofs.nope" in err and out == ""


def test_adopt_prints_its_plan_then_adopts_and_fails_on_a_batch_that_does_not_fit(
    lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = load_registry().get("orders")
    assert spec is not None
    header = "order_id,order_date,customer,amount,quantity,note"
    good = f"{header}\n1,2024-01-02,ann,1.5,1,\n"
    pre_table_file(lake, "orders", "old-1", "orders", good, schema=spec.arrow_schema())
    bad = pre_table_file(lake, "orders", "old-2", "orders", "order_id,customer\n2,bob\n")
    pre_table_file(lake, "sales", "old-1", "sales", "region\nEU\n")

    code, out, err = run(capsys, "tables", "adopt", "--dry-run")
    assert code == 1 and "1 batch(es) not adopted" in err
    lines = out.splitlines()
    assert lines[0].split() == ["BATCH", "NAME", "FILES", "ROWS", "OUTCOME", "WHAT"]
    assert lines[1].split()[:6] == ["old-1", "orders", "1", "1", "to", "adopt"]
    assert lines[2].split()[:5] == ["old-2", "orders", "1", "-", "failed"]
    assert f"{bad}: columns ['order_id', 'customer'] differ" in lines[2]
    assert lines[3].split()[:6] == ["old-1", "sales", "1", "-", "to", "move"]
    assert "dry run: nothing changed" in out
    assert not (lake / "unregistered").exists()

    code, out, _ = run(capsys, "tables", "adopt", "--json")
    doc = json.loads(out)
    assert code == 1 and (doc["dry_run"], doc["failed"]) == (False, 1)
    assert [(b["batch_id"], b["action"], b["done"]) for b in doc["batches"]] == [
        ("old-1", "adopt", True),
        ("old-2", "adopt", False),
        ("old-1", "move", True),
    ]
    assert doc["batches"][0]["rows"] == 1 and isinstance(doc["batches"][0]["snapshot_id"], int)
    assert doc["batches"][1]["problem"].startswith(f"{bad}: columns")
    assert doc["batches"][2]["written"] == ["unregistered/tables/sales/batch=old-1/sales.parquet"]

    bad.unlink()  # the operator converts or drops the batch that did not fit
    code, out, _ = run(capsys, "tables", "adopt")
    assert code == 0 and out.startswith("nothing to adopt in ")
    code, out, _ = run(capsys, "tables", "adopt", "--json")
    assert (code, json.loads(out)["batches"]) == (0, [])
