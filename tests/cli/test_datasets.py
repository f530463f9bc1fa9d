"""``aerofs datasets list|suggest``: the registry, and entries for unregistered files
(the suggestion from a processed batch is exercised in tests/defs/test_lake.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aerofs_pipelines import cli


def test_list_prints_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "datasets.yaml"
    registry.write_text(
        "datasets:\n"
        "  events:\n    patterns: [events*.csv, ev_*.tsv]\n"
        "  sites:\n    patterns: [sites.csv]\n    on_schema_change: freeze\n"
        "    columns: {site: string, country: string}\n"
    )
    monkeypatch.setenv("AEROFS_DATASETS", str(registry))
    assert cli.main(["datasets", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["registry"] == str(registry)
    assert doc["datasets"] == [
        {
            "dataset": "events",
            "patterns": ["events*.csv", "ev_*.tsv"],
            "columns": 0,
            "on_schema_change": "evolve",
        },
        {"dataset": "sites", "patterns": ["sites.csv"], "columns": 2, "on_schema_change": "freeze"},
    ]
    assert cli.main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "events*.csv ev_*.tsv" in out and "inferred" in out and "freeze" in out


def test_suggest_names_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AEROFS_LAKE", str(tmp_path / "lake"))
    monkeypatch.delenv("AEROFS_DATASETS", raising=False)
    assert cli.main(["datasets", "suggest", "never-ran"]) == 1
    err = capsys.readouterr().err
    assert "batch 'never-ran' has no manifest" in err and str(tmp_path / "lake") in err
    assert cli.main(["datasets", "suggest", "../etc"]) == 1
    assert "batch id" in capsys.readouterr().err

    manifests = tmp_path / "lake" / "manifests"
    manifests.mkdir(parents=True)
    (manifests / "b1.json").write_text(json.dumps({"batch_id": "b1", "files": []}))
    assert cli.main(["datasets", "suggest", "b1"]) == 0
    assert "every table file belongs to a registered dataset" in capsys.readouterr().out
