"""docs/lake.md is executable: its ``python`` blocks (one shared namespace) and ``sh``
blocks run against a lake that the real pipeline filled with two sample batches."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from aerofs_pipelines import sample_data
from tests.support.pipeline import env_resources, run_batches

DOC = Path(__file__).resolve().parents[2] / "docs" / "lake.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(DOC.read_text())]


def test_the_page_has_examples_of_each_kind() -> None:
    kinds = [kind for kind, _ in blocks()]
    assert kinds.count("python") >= 4 and "sh" in kinds


def test_lake_docs_examples_run(
    instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    resources = env_resources(monkeypatch, str(landing), str(lake))
    for batch in ("sample-1", "sample-2"):
        sample_data.write_sample_batch(landing, batch)
        assert run_batches(instance, resources, [batch]).success

    namespace: dict[str, object] = {}
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    for kind, code in blocks():
        if kind == "python":
            exec(compile(code, str(DOC), "exec"), namespace)
        elif kind == "sh":
            proc = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", code],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, f"{code}\n{proc.stdout}\n{proc.stderr}"
