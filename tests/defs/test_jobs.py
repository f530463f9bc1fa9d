"""``AEROFS_EXECUTOR`` picks how a run executes its steps."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster_k8s import k8s_job_executor

from aerofs_pipelines.defs.jobs import run_executor


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", dg.in_process_executor),
        ("in_process", dg.in_process_executor),
        ("multiprocess", dg.multiprocess_executor),
        ("k8s", k8s_job_executor),
    ],
)
def test_executor_from_env(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: dg.ExecutorDefinition
) -> None:
    monkeypatch.setenv("AEROFS_EXECUTOR", value)
    assert run_executor() is expected


def test_unknown_executor_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEROFS_EXECUTOR", "celery")
    with pytest.raises(ValueError, match="AEROFS_EXECUTOR='celery' is not one of"):
        run_executor()
