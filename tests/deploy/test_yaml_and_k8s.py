"""Every YAML file under deploy/ parses; the Kubernetes manifests validate offline against
the Kubernetes API schemas (kubernetes-validate's bundled OpenAPI schemas, strict: unknown
fields are errors) and agree with the Helm values they lean on."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deploy.common import (
    DEPLOY,
    INSTANCE_CONFIGMAP,
    K8S,
    NAMESPACE,
    WORKSPACE_CONFIGMAP,
    k8s_docs,
    k8s_object,
    load_all,
    user_deployment,
    values,
    yaml_files,
)

# The oldest Kubernetes the manifests are meant for, and the newest schemas bundled.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


def test_deploy_has_yaml() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in yaml_files()}
    for expected in (
        "compose.yaml",
        "helm/values.yaml",
        "dagster/dagster.compose.yaml",
        "dagster/dagster.k8s.yaml",
        "dagster/workspace.compose.yaml",
        "k8s/gateway.yaml",
    ):
        assert expected in names


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_parses(path: Path) -> None:
    docs = load_all(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        assert isinstance(doc, dict), f"{path}: a document is not a mapping"


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.json")), ids=lambda p: p.name)
def test_json_parses(path: Path) -> None:
    json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    "path", sorted(K8S.rglob("*.yaml")), ids=lambda p: p.relative_to(K8S).as_posix()
)
def test_manifest_validates_against_kubernetes_schema(path: Path, version: str) -> None:
    for doc in load_all(path):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {doc['kind']} {doc['metadata']['name']}: {exc.message}")


def test_validator_rejects_a_bad_manifest() -> None:
    """The validator is really strict and offline: a misspelt field fails."""
    doc = yaml.safe_load(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
        "spec: {selector: {a: b}, ports: [{port: 80, targetPort: http, protocl: TCP}]}\n"
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)


def test_everything_in_the_namespace_of_the_release() -> None:
    for path, doc in k8s_docs():
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{path.name}: {doc['kind']}"


def test_namespace_manifest_sorts_first() -> None:
    """`kubectl apply -f deploy/k8s/` applies files in name order: the Namespace first."""
    files = sorted(p.name for p in K8S.glob("*.yaml"))
    assert [d["kind"] for d in load_all(K8S / files[0])] == ["Namespace"]


def _gateway() -> dict:
    return k8s_object("Deployment", "aerofs-gateway")


def test_gateway_uses_the_release_objects() -> None:
    """The gateway mounts the instance and workspace the chart renders, runs as the
    release's ServiceAccount and reads the PostgreSQL Secret the chart reads."""
    pod = _gateway()["spec"]["template"]["spec"]
    v = values()
    assert pod["serviceAccountName"] == v["serviceAccount"]["name"]
    assert pod["serviceAccountName"] == v["global"]["serviceAccountName"]
    assert v["serviceAccount"]["create"] is True
    volumes = {vol["name"]: vol for vol in pod["volumes"]}
    assert volumes["dagster-instance"]["configMap"]["name"] == INSTANCE_CONFIGMAP
    assert volumes["dagster-workspace"]["configMap"]["name"] == WORKSPACE_CONFIGMAP
    (container,) = pod["containers"]
    secret_refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
    assert {"name": v["global"]["postgresqlSecretName"], "key": "postgresql-password"} in (
        secret_refs
    )
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    home = v["global"]["dagsterHome"]
    assert mounts[f"{home}/dagster.yaml"]["name"] == "dagster-instance"
    args = container["args"]
    assert args[:2] == ["aerofs", "serve"] and "--no-daemon" in args
    workspace = args[args.index("-w") + 1]
    assert Path(workspace).parent.as_posix() in mounts
    assert mounts[Path(workspace).parent.as_posix()]["name"] == "dagster-workspace"
    port = args[args.index("--port") + 1]
    assert {"name": "http", "containerPort": int(port), "protocol": "TCP"} in container["ports"]


def test_gateway_config_matches_the_values() -> None:
    data = k8s_object("ConfigMap", "aerofs-gateway")["data"]
    v = values()
    pg = v["postgresql"]
    assert data["DAGSTER_HOME"] == v["global"]["dagsterHome"]
    assert data["DAGSTER_PG_HOST"] == pg["postgresqlHost"]
    assert data["DAGSTER_PG_USERNAME"] == pg["postgresqlUsername"]
    assert data["DAGSTER_PG_DB"] == pg["postgresqlDatabase"]
    assert data["DAGSTER_PG_PORT"] == str(pg["service"]["port"])
    assert data["PGSSLMODE"] == pg["postgresqlParams"]["sslmode"]
    assert data["DAGSTER_K8S_INSTANCE_CONFIG_MAP"] == INSTANCE_CONFIGMAP
    assert data["DAGSTER_K8S_PG_PASSWORD_SECRET"] == v["global"]["postgresqlSecretName"]
    assert data["DAGSTER_K8S_PIPELINE_RUN_NAMESPACE"] == NAMESPACE
    assert data["AEROFS_ENV"] == "production"
    # The gateway's secrets never sit in a ConfigMap.
    assert not {"AEROFS_SECRET_KEY", "DAGSTER_PG_PASSWORD", "AEROFS_ADMIN_PASSWORD"} & set(data)


def test_gateway_images_and_the_values_agree() -> None:
    (container,) = _gateway()["spec"]["template"]["spec"]["containers"]
    v = values()
    for section in (v["dagsterDaemon"], v["dagsterWebserver"]):
        image = section["image"]
        assert container["image"] == f"{image['repository']}:{image['tag']}"
    assert "gateway" in container["image"]
    assert "usercode" in user_deployment()["image"]["repository"]


def test_service_ingress_and_pdb_select_the_gateway() -> None:
    labels = _gateway()["spec"]["template"]["metadata"]["labels"]
    service = k8s_object("Service", "aerofs-gateway")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= labels.items()
    pdb = k8s_object("PodDisruptionBudget", "aerofs-gateway")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ingresses = {d["metadata"]["name"]: d for _, d in k8s_docs() if d["kind"] == "Ingress"}
    assert set(ingresses) == {"aerofs-gateway", "aerofs-gateway-uploads"}, (
        "the gateway's Ingresses are the only entry point"
    )
    for ingress in ingresses.values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] == "aerofs-gateway"
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    config = k8s_object("ConfigMap", "aerofs-gateway")["data"]
    hosts = [rule["host"] for rule in ingresses["aerofs-gateway"]["spec"]["rules"]]
    assert config["AEROFS_ALLOWED_ORIGINS"] in [f"https://{h}" for h in hosts]
    # uploads stream through, up to the gateway's own cap; everything else stays small
    uploads = ingresses["aerofs-gateway-uploads"]
    (path,) = [p for r in uploads["spec"]["rules"] for p in r["http"]["paths"]]
    assert path["path"] == "/api/batches/"
    notes = uploads["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    size = notes["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert int(size.rstrip("g")) * 1024**3 == int(config["AEROFS_MAX_UPLOAD_BYTES"])
    assert (
        ingresses["aerofs-gateway"]["metadata"]["annotations"][
            "nginx.ingress.kubernetes.io/proxy-body-size"
        ]
        == "2m"
    )


def test_chart_webserver_is_not_exposed() -> None:
    v = values()
    web = v["dagsterWebserver"]
    assert web["service"]["type"] == "ClusterIP"
    assert web["replicaCount"] == 0
    assert v["ingress"]["enabled"] is False
    deny = k8s_object("NetworkPolicy", "dagster-webserver-deny-all")
    assert deny["spec"]["ingress"] == []
    assert deny["spec"]["podSelector"]["matchLabels"]["component"] == "dagster-webserver"


def test_usercode_network_policy_matches_the_deployment() -> None:
    policy = k8s_object("NetworkPolicy", "aerofs-usercode-grpc")
    deployment = user_deployment()
    assert policy["spec"]["podSelector"]["matchLabels"]["deployment"] == deployment["name"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": deployment["port"], "protocol": "TCP"}]
    gateway_labels = _gateway()["spec"]["template"]["metadata"]["labels"]
    assert any(
        peer["podSelector"]["matchLabels"].items() <= gateway_labels.items()
        for peer in rule["from"]
    )


def test_example_secrets_are_the_ones_referenced() -> None:
    examples = {d["metadata"]["name"]: d for d in load_all(K8S / "examples/secrets.example.yaml")}
    v = values()
    assert "postgresql-password" in examples[v["global"]["postgresqlSecretName"]]["stringData"]
    gateway_secret = examples["aerofs-gateway"]["stringData"]
    assert "AEROFS_SECRET_KEY" in gateway_secret
    (container,) = _gateway()["spec"]["template"]["spec"]["containers"]
    assert {"secretRef": {"name": "aerofs-gateway"}} in container["envFrom"]
    assert set(examples["aerofs-s3-credentials"]["stringData"]) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
