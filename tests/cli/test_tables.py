"""``aerofs tables list|show``: the lake's Iceberg tables from the configured catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aerofs_pipelines import cli, kernels
from aerofs_pipelines.lake.iceberg import commit_batch, open_catalog


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
