"""Paths and loaders shared by the deploy/ tests (no cluster, no Docker daemon needed)."""

from __future__ import annotations

import json
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCS = REPO / "docs"
DOCKER = DEPLOY / "docker"
K8S = DEPLOY / "k8s"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
HELM_SCHEMA = DEPLOY / "helm" / "values.schema.json"
COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_ENV_EXAMPLE = DEPLOY / "compose.env.example"
DAGSTER_COMPOSE = DEPLOY / "dagster" / "dagster.compose.yaml"
DAGSTER_K8S = DEPLOY / "dagster" / "dagster.k8s.yaml"
WORKSPACE_COMPOSE = DEPLOY / "dagster" / "workspace.compose.yaml"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))

# The Helm release and namespace docs/kubernetes.md installs, and what the chart names
# after them (its fullname is the release name when that contains "dagster").
RELEASE = "dagster"
NAMESPACE = "aerofs"
INSTANCE_CONFIGMAP = f"{RELEASE}-instance"
WORKSPACE_CONFIGMAP = f"{RELEASE}-workspace-yaml"


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_all(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@cache
def values() -> dict[str, Any]:
    return load(HELM_VALUES)


@cache
def schema() -> dict[str, Any]:
    return json.loads(HELM_SCHEMA.read_text(encoding="utf-8"))


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def pins(requirements: list[str]) -> dict[str, str]:
    """``name==version`` requirements as {canonical name: version} (others ignored)."""
    out = {}
    for req in requirements:
        m = re.match(r"^\s*([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*==\s*([^\s;#]+)", req)
        if m:
            out[canonical(m.group(1))] = m.group(3)
    return out


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def k8s_docs() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object under deploy/k8s/ (including examples/), with its file."""
    return [(p, d) for p in sorted(K8S.rglob("*.yaml")) for d in load_all(p)]


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in k8s_docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name} in deploy/k8s, found {len(found)}"
    return found[0]


def user_deployment() -> dict[str, Any]:
    deployments = values()["dagster-user-deployments"]["deployments"]
    assert len(deployments) == 1
    return deployments[0]
