"""The dagster.yaml variants load through Dagster's own instance-config validation
(``dagster_instance_config``), and every configurable class in them (storage, run
launcher, run coordinator, compute logs, scheduler) validates its ``config`` against the
class's own config schema, as the instance does when it instantiates it — including
dagster-k8s's K8sRunLauncher. The compose instance is also instantiated for real against
PostgreSQL and a moto S3 server. The K8s variant agrees with deploy/helm/values.yaml.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from dagster._config import process_config, resolve_to_config_type
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.workspace.config_schema import ensure_workspace_config

from tests.deploy.common import (
    COMPOSE,
    DAGSTER_COMPOSE,
    DAGSTER_K8S,
    NAMESPACE,
    REPO,
    WORKSPACE_COMPOSE,
    k8s_object,
    load,
    user_deployment,
    values,
)

VARIANTS = [DAGSTER_COMPOSE, DAGSTER_K8S, REPO / "dagster_home" / "dagster.yaml"]


def _env_names(node: Any) -> set[str]:
    if isinstance(node, Mapping):
        if set(node) == {"env"} and isinstance(node["env"], str):
            return {node["env"]}
        return set().union(*(_env_names(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_env_names(v) for v in node)) if node else set()
    return set()


@pytest.fixture
def instance_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Values for every variable a variant reads (``env:`` sources must be set to validate)."""
    for path in VARIANTS:
        for name in _env_names(load(path)):
            monkeypatch.setenv(name, "5432" if name.endswith("_PORT") else "placeholder")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    return tmp_path


def _load(path: Path, tmp_path: Path) -> Mapping[str, Any]:
    home = tmp_path / path.stem
    home.mkdir()
    shutil.copy(path, home / "dagster.yaml")
    config, custom_instance_class = dagster_instance_config(str(home))
    assert custom_instance_class is None
    return config


def _classes(config: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    found = [(k, v) for k, v in config.items() if isinstance(v, Mapping) and "class" in v]
    storage = config.get("storage") or {}
    if "custom" in storage:
        found.append(("storage.custom", storage["custom"]))
    return found


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_variant_loads_and_its_classes_validate(path: Path, instance_env: Path) -> None:
    config = _load(path, instance_env)
    classes = _classes(config)
    assert classes or path.name == "dagster.yaml"
    for key, entry in classes:
        klass = getattr(importlib.import_module(entry["module"]), entry["class"])
        result = process_config(
            resolve_to_config_type(klass.config_type()), entry.get("config") or {}
        )
        assert result.success, f"{path.name} {key}: {[e.message for e in result.errors]}"


def test_validation_catches_a_bad_key(instance_env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DAGSTER_COMPOSE.read_text().replace("max_retries: 2", "max_retrys: 2"))
    with pytest.raises(DagsterInvalidConfigError):
        _load(bad, instance_env)


def test_class_validation_catches_a_bad_launcher_key(instance_env: Path) -> None:
    config = _load(DAGSTER_K8S, instance_env)
    launcher = dict(config["run_launcher"])
    klass = getattr(importlib.import_module(launcher["module"]), launcher["class"])
    broken = {**launcher["config"], "job_namespce": "x"}
    assert not process_config(resolve_to_config_type(klass.config_type()), broken).success


def test_compose_variant_shape(instance_env: Path) -> None:
    config = _load(DAGSTER_COMPOSE, instance_env)
    # The project's storage class, as in dagster_home/dagster.yaml: PostgreSQL chosen by
    # DAGSTER_PG_*, with its event settings and connect-retry window.
    assert config["storage"]["custom"]["class"] == "EnvSelectedStorage"
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_launcher"]["class"] == "DefaultRunLauncher"
    assert config["run_retries"]["enabled"] is True


def test_compose_instance_starts_on_postgres_and_s3(
    pg_url: str, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose instance for real: storage migrated on PostgreSQL, the queue and the
    launcher instantiated, compute logs on S3 (moto)."""
    from urllib.parse import urlsplit

    import boto3
    import dagster as dg

    url = urlsplit(pg_url)
    env = {
        "DAGSTER_HOME": str(tmp_path),
        "DAGSTER_PG_HOST": url.hostname or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USERNAME": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "unused",
        "DAGSTER_PG_DB": url.path.lstrip("/"),
        "AEROFS_COMPUTE_LOG_BUCKET": "aerofs-deploy-test-lake",
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AEROFS_PG_URL", raising=False)
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket="aerofs-deploy-test-lake"
    )
    shutil.copy(DAGSTER_COMPOSE, tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_runs() == []
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert type(instance.compute_log_manager).__name__ == "S3ComputeLogManager"
        assert instance.run_retries_enabled
        assert type(instance._run_storage).__name__ == "PostgresRunStorage"


def test_compose_services_set_every_variable_the_instance_reads() -> None:
    compose = load(COMPOSE)
    # DAGSTER_PG_*: what EnvSelectedStorage (and the gateway's store) read.
    needed = _env_names(load(DAGSTER_COMPOSE)) | {
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_USERNAME",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
    }
    for name in ("usercode", "daemon", "gateway"):
        env = compose["services"][name]["environment"]
        assert needed <= set(env), f"{name} lacks {needed - set(env)}"


def test_compose_workspace_is_valid_and_points_at_the_code_server() -> None:
    config = ensure_workspace_config(load(WORKSPACE_COMPOSE), str(WORKSPACE_COMPOSE))
    (entry,) = config["load_from"]
    server = entry["grpc_server"]
    assert server["host"] in load(COMPOSE)["services"]
    assert server["port"] == 4000
    assert server["location_name"] == "aerofs_pipelines"


# ---------------------------------------------------------------- K8s variant vs values


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _snake_keys(node: Mapping[str, Any]) -> dict[str, Any]:
    return {_snake(k): v for k, v in node.items()}


def test_k8s_variant_is_what_the_chart_renders_from_the_values() -> None:
    v = values()
    k8s = load(DAGSTER_K8S)
    daemon = v["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert k8s["run_coordinator"]["config"] == _snake_keys(queued)
    assert k8s["run_retries"] == _snake_keys(daemon["runRetries"])
    assert k8s["run_monitoring"] == _snake_keys(daemon["runMonitoring"])
    for section in ("sensors", "schedules", "backfills"):
        assert k8s[section] == _snake_keys(daemon[section])
    assert k8s["telemetry"] == v["telemetry"]
    for key, value in v["additionalInstanceConfig"].items():
        assert k8s[key] == value

    pg = v["postgresql"]
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        db = k8s[storage]["config"]["postgres_db"]
        assert db["hostname"] == pg["postgresqlHost"]
        assert db["username"] == pg["postgresqlUsername"]
        assert db["db_name"] == pg["postgresqlDatabase"]
        assert db["port"] == pg["service"]["port"]
        assert db["params"] == pg["postgresqlParams"]
        assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}

    launcher_values = v["runLauncher"]["config"]["k8sRunLauncher"]
    launcher = k8s["run_launcher"]["config"]
    assert launcher["job_namespace"] == (launcher_values.get("jobNamespace") or NAMESPACE)
    assert launcher["image_pull_policy"] == launcher_values["imagePullPolicy"]
    assert launcher["service_account_name"] == v["serviceAccount"]["name"]
    assert launcher["labels"] == launcher_values["labels"]
    assert launcher["fail_pod_on_run_failure"] == launcher_values["failPodOnRunFailure"]
    assert launcher["run_k8s_config"] == _snake_keys(launcher_values["runK8sConfig"])

    logs = v["computeLogManager"]["config"]["s3ComputeLogManager"]
    assert k8s["compute_logs"]["class"] == v["computeLogManager"]["type"]
    assert k8s["compute_logs"]["config"] == _snake_keys(logs)

    retention = v["retention"]
    for key in ("sensor", "schedule", "autoMaterialize"):
        assert k8s["retention"][_snake(key)] == {
            "purge_after_days": retention[key]["purgeAfterDays"]
        }


def test_k8s_variant_env_is_set_in_the_gateway() -> None:
    """Every variable the instance reads is set in the gateway pod (the chart sets them in
    its own pods)."""
    needed = _env_names(load(DAGSTER_K8S))
    config = k8s_object("ConfigMap", "aerofs-gateway")["data"]
    gateway = k8s_object("Deployment", "aerofs-gateway")
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    names = set(config) | {e["name"] for e in container["env"]}
    assert needed <= names, needed - names


def test_user_code_env_matches_compose() -> None:
    """The pipeline settings exist in both setups; on Kubernetes the event settings that
    the project's storage class applies elsewhere are set explicitly (the chart's instance
    names Dagster's PostgreSQL storage), in the code server, run pods, daemon and gateway."""
    from aerofs_pipelines.instance_storage import DAGSTER_EVENT_ENV

    compose_env = load(COMPOSE)["services"]["usercode"]["environment"]
    for name in ("AEROFS_LANDING", "AEROFS_LAKE"):
        assert name in compose_env
        assert name in user_deployment()["env"]
    gateway = k8s_object("ConfigMap", "aerofs-gateway")["data"]
    daemon = {e["name"]: e["value"] for e in values()["dagsterDaemon"]["env"]}
    for env in (user_deployment()["env"], daemon, gateway):
        for name, value in DAGSTER_EVENT_ENV.items():
            assert env[name] == value
