"""deploy/helm/values.yaml validates against the values schema kept beside it
(deploy/helm/values.schema.json, for chart 1.13.27), matches the pinned Dagster version,
and names code, ports and tags that exist."""

from __future__ import annotations

import copy
import importlib.util
from typing import Any

import jsonschema
import pytest

from aerofs_pipelines.defs.schedules import BACKFILL_TAG
from aerofs_pipelines.defs.sensors import BATCH_TAG, PIPELINE_TAGS
from tests.deploy.common import DOCKER, pins, pyproject, schema, user_deployment, values


def _errors(doc: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(schema())
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]


def test_schema_is_a_valid_draft7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(schema())


def test_values_validate() -> None:
    assert _errors(values()) == []


def test_chart_version_is_the_pinned_dagster() -> None:
    chart = schema()["x-chart"]
    assert chart["name"] == "dagster"
    assert chart["version"] == pins(pyproject()["project"]["dependencies"])["dagster"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator", "maxConcurent"), 3),
        (("runLauncher", "config", "k8sRunLauncher", "jobNamespce"), "x"),
        (("dagsterWebserver", "replicaCount"), "one"),
        (("dagster-user-deployments", "deployments", 0, "name"), "Bad_Name"),
        (("dagsterDaemon", "runRetries", "maxRetries"), -1),
        (("computeLogManager", "type"), "S3LogManager"),
        (("unknownTopLevel",), {}),
        # A typo here would silently leave migration (or the Ingress) at the chart's default.
        (("migrate", "enable"), True),
        (("ingress", "enable"), True),
    ],
)
def test_schema_catches_mistakes(path: tuple[Any, ...], value: Any) -> None:
    doc = copy.deepcopy(values())
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert _errors(doc), f"setting {path} to {value!r} should be an error"


def test_run_launcher_requires_its_config() -> None:
    doc = copy.deepcopy(values())
    del doc["runLauncher"]["config"]["k8sRunLauncher"]
    assert _errors(doc)


def test_user_code_deployment_runs_our_code_server() -> None:
    deployment = user_deployment()
    args = deployment["dagsterApiGrpcArgs"]
    module = args[args.index("-m") + 1]
    assert importlib.util.find_spec(module) is not None
    attribute = args[args.index("-a") + 1]
    mod = importlib.import_module(module)
    assert hasattr(mod, attribute)
    dockerfile = (DOCKER / "usercode.Dockerfile").read_text(encoding="utf-8")
    assert f"EXPOSE {deployment['port']}" in dockerfile
    assert f'"grpc-health-check", "-p", "{deployment["port"]}"' in dockerfile
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True


def test_landing_and_lake_are_s3() -> None:
    env = user_deployment()["env"]
    assert env["AEROFS_LANDING"].startswith("s3://")
    assert env["AEROFS_LAKE"].startswith("s3://")
    v = values()
    lake_bucket = env["AEROFS_LAKE"].removeprefix("s3://").split("/")[0]
    assert v["computeLogManager"]["config"]["s3ComputeLogManager"]["bucket"] == lake_bucket
    # IRSA by default; the secret alternative is documented next to it.
    assert "eks.amazonaws.com/role-arn" in v["serviceAccount"]["annotations"]


def test_k8s_run_launcher_and_daemon() -> None:
    v = values()
    assert v["runLauncher"]["type"] == "K8sRunLauncher"
    daemon = v["dagsterDaemon"]
    assert daemon["enabled"] is True
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert daemon["runRetries"]["enabled"] is True
    assert daemon["runMonitoring"]["enabled"] is True
    assert v["postgresql"]["enabled"] is False
    assert v["generatePostgresqlPasswordSecret"] is False


def test_every_pod_runs_as_the_images_non_root_user() -> None:
    """The code server, the daemon, the migrate Job (the webserver's pod settings) and every
    run pod: the launcher does not carry the code deployment's security context over."""
    v = values()
    pod, container = user_deployment()["podSecurityContext"], user_deployment()["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert f"USER {pod['runAsUser']}:{pod['runAsGroup']}" in (
        DOCKER / "usercode.Dockerfile"
    ).read_text(encoding="utf-8")
    assert container == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    run = v["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    assert run["podSpecConfig"]["securityContext"] == pod
    assert run["containerConfig"]["securityContext"] == container
    for component in ("dagsterDaemon", "dagsterWebserver"):
        assert v[component]["podSecurityContext"] == pod, component
        assert v[component]["securityContext"] == container, component


def test_migrate_job_is_off() -> None:
    """The chart's migrate Job is a plain Job: on for one upgrade only (operator guide)."""
    assert values()["migrate"] == {"enabled": False}


def test_tag_limits_name_tags_our_runs_carry() -> None:
    limits = values()["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"][
        "tagConcurrencyLimits"
    ]
    ours = {BATCH_TAG, BACKFILL_TAG, *PIPELINE_TAGS, "dagster/backfill"}
    for limit in limits:
        assert limit["key"] in ours, f"no run carries the tag {limit['key']}"
        if isinstance(limit.get("value"), str):
            assert PIPELINE_TAGS.get(limit["key"]) == limit["value"]
    per_batch = [x for x in limits if x["key"] == BATCH_TAG]
    assert per_batch == [
        {"key": BATCH_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
