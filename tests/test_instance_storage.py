"""dagster_home/dagster.yaml loads through Dagster's own config validation, on SQLite and
on PostgreSQL, with the run queue, run retries and run monitoring it promises."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config
from dagster._core.storage.runs import SqliteRunStorage
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

from aerofs_pipelines.instance_storage import DAGSTER_EVENT_ENV, apply_event_env

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGSTER_YAML = REPO_ROOT / "dagster_home" / "dagster.yaml"
PG_VARS = ("AEROFS_PG_URL", "DAGSTER_PG_HOST", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD")


@pytest.fixture(autouse=True)
def _event_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the storage sets Dagster event switches: undo them after each test."""
    for name in DAGSTER_EVENT_ENV:
        monkeypatch.setenv(name, "")  # records the value to restore at teardown
        monkeypatch.delenv(name)


def test_loading_sets_event_switches() -> None:
    apply_event_env()
    for name, value in DAGSTER_EVENT_ENV.items():
        assert os.environ[name] == value


def home_with_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DAGSTER_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name in PG_VARS:
        monkeypatch.delenv(name, raising=False)
    return home


def check_policies(instance: dg.DagsterInstance) -> None:
    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None and queue.max_concurrent_runs == 4
    assert {"key": "dagster/backfill", "limit": 2} in queue.tag_concurrency_limits
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert not instance.run_retries_retry_on_asset_or_op_failure
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_max_runtime_seconds == 21600


def roundtrip(instance: dg.DagsterInstance) -> None:
    instance.add_dynamic_partitions("batches", ["b1", "b2"])
    assert instance.get_dynamic_partitions("batches") == ["b1", "b2"]
    # What code servers and run workers receive: the ref rebuilds the same storage.
    with dg.DagsterInstance.from_ref(instance.get_ref()) as again:
        assert again.get_dynamic_partitions("batches") == ["b1", "b2"]
        assert type(again.run_storage) is type(instance.run_storage)


def test_yaml_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = home_with_yaml(tmp_path, monkeypatch)
    config, custom_class = dagster_instance_config(str(home))
    assert custom_class is None
    assert config["storage"]["custom"]["class"] == "EnvSelectedStorage"
    assert yaml.safe_load(DAGSTER_YAML.read_text())["telemetry"] == {"enabled": False}


def test_sqlite_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = home_with_yaml(tmp_path, monkeypatch)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, SqliteRunStorage)
        assert os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] == "1"
        assert (home / "history" / "runs.db").exists()
        check_policies(instance)
        roundtrip(instance)


@pytest.mark.parametrize("how", ["AEROFS_PG_URL", "DAGSTER_PG_"])
def test_postgres_when_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str, how: str
) -> None:
    home = home_with_yaml(tmp_path, monkeypatch)
    if how == "AEROFS_PG_URL":
        monkeypatch.setenv("AEROFS_PG_URL", pg_url)
    else:
        from sqlalchemy.engine import make_url

        url = make_url(pg_url)
        monkeypatch.setenv("DAGSTER_PG_HOST", str(url.host))
        monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port or 5432))
        monkeypatch.setenv("DAGSTER_PG_USERNAME", str(url.username))
        monkeypatch.setenv("DAGSTER_PG_DB", str(url.database))
        if url.password:
            monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert not (home / "history").exists()
        check_policies(instance)
        roundtrip(instance)


def test_dagster_pg_variables_are_url_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A password with URL metacharacters reaches PostgreSQL unchanged."""
    from sqlalchemy.engine import make_url

    from aerofs_pipelines.config import postgres_url

    for name in PG_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_PG_HOST", "db.internal")
    monkeypatch.setenv("DAGSTER_PG_USERNAME", "dag@ster")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "p@ss:w/o#rd%?")
    url = make_url(postgres_url() or "")
    assert (url.username, url.password, url.host) == ("dag@ster", "p@ss:w/o#rd%?", "db.internal")
