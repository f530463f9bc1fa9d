"""The deployment docs stay true to the repository: every file path they reference
exists, and the commands they give agree with the files they use — the Helm release,
namespace, chart version and values file; the images; the Secrets; the `aerofs`
subcommands and options; the benchmark commands behind each number in capacity.md."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from aerofs_pipelines.cli import build_parser
from tests.deploy.common import (
    COMPOSE,
    DOCKER,
    DOCS,
    HELM_VALUES,
    K8S,
    NAMESPACE,
    RELEASE,
    REPO,
    k8s_object,
    load_all,
    schema,
    user_deployment,
    values,
)

DEPLOY_DOCS = [
    DOCS / n for n in ("operator-guide.md", "architecture.md", "capacity.md", "kubernetes.md")
]
# Paths the docs name that are created by the reader, not kept in the repository.
NOT_IN_REPO = {"deploy/.env"}
# `kubectl exec deploy/NAME`: a Deployment, not a path (checked in test_kubectl_lines).
KUBECTL_REFS = {"deploy/aerofs-gateway"}
PATH_PREFIXES = (
    "deploy/",
    "docs/",
    "tests/",
    "bench/",
    "dagster_home/",
    "aerofs_pipelines/",
    "scripts/",
)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _sh_lines(path: Path) -> list[str]:
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", _text(path), flags=re.S):
        lines += [
            line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")
        ]
    return lines


def _all_sh_lines() -> list[str]:
    return [line for doc in DEPLOY_DOCS for line in _sh_lines(doc)]


def _argv(line: str) -> list[str]:
    argv = shlex.split(line)
    while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
        argv.pop(0)
    return argv


def test_docs_exist() -> None:
    for doc in DEPLOY_DOCS:
        assert doc.is_file()
    readme = _text(REPO / "README.md")
    for doc in DEPLOY_DOCS:
        assert f"(docs/{doc.name})" in readme, f"README.md does not link docs/{doc.name}"


@pytest.mark.parametrize("doc", [*DEPLOY_DOCS, REPO / "README.md"], ids=lambda p: p.name)
def test_referenced_paths_exist(doc: Path) -> None:
    text = _text(doc)
    missing = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        if not (doc.parent / target).exists():
            missing.append(target)
    for token in re.findall(r"[\w./-]+", text):
        token = token.rstrip(".,:;")
        if (
            token.startswith(PATH_PREFIXES)
            and token not in NOT_IN_REPO | KUBECTL_REFS
            and "*" not in token
            and not (REPO / token).exists()
        ):
            missing.append(token)
    assert not missing, f"{doc.name} names paths that do not exist: {sorted(set(missing))}"


def _helm_lines() -> list[list[str]]:
    return [_argv(line) for line in _all_sh_lines() if line.startswith("helm upgrade")]


def test_helm_install_line() -> None:
    lines = _helm_lines()
    assert lines, "no helm upgrade --install line in the docs"
    version = schema()["x-chart"]["version"]
    for argv in lines:
        assert argv[:3] == ["helm", "upgrade", "--install"]
        assert argv[3] == RELEASE
        assert argv[4] == "dagster/dagster"
        assert argv[argv.index("--version") + 1] == version
        assert argv[argv.index("--namespace") + 1] == NAMESPACE
        assert REPO / argv[argv.index("-f") + 1] == HELM_VALUES
        # The one override the docs give: the migrate Job, for one upgrade.
        if "--set" in argv:
            assert argv[argv.index("--set") + 1] == "migrate.enabled=true"
            assert values()["migrate"]["enabled"] is False
    # The plain install line is quoted in the values file's header.
    header = "\n".join(
        line.lstrip("# ") for line in _text(HELM_VALUES).splitlines() if line.startswith("#")
    )
    plain = {shlex.join(argv) for argv in lines if "--set" not in argv}
    assert len(plain) == 1
    assert plain.pop() in header


def test_helm_repo_line() -> None:
    lines = _all_sh_lines()
    assert f"helm repo add dagster {schema()['x-chart']['repository']}" in lines


@pytest.mark.parametrize("line", [ln for ln in _all_sh_lines() if ln.startswith("kubectl")])
def test_kubectl_lines(line: str) -> None:
    argv = _argv(line)
    if "-n" in argv:
        assert argv[argv.index("-n") + 1] == NAMESPACE
    if "-f" in argv:
        target = REPO / argv[argv.index("-f") + 1]
        assert target.exists()
        assert target == K8S or target.is_relative_to(K8S)
    if argv[1:4] == ["-n", NAMESPACE, "exec"]:
        what = argv[4]
        assert what in (f"svc/{user_deployment()['name']}", "deploy/aerofs-gateway")
        rest = argv[argv.index("--") + 1 :]
        if rest[0] == "aerofs":
            build_parser().parse_args(rest[1:])
    if "create" in argv and "secret" in argv:
        name = argv[argv.index("generic") + 1]
        keys = {
            a.split("=", 1)[1].split("=", 1)[0] for a in argv if a.startswith("--from-literal=")
        }
        examples = {
            d["metadata"]["name"]: d for d in load_all(K8S / "examples/secrets.example.yaml")
        }
        assert name in examples, f"no example of the Secret {name}"
        assert keys == set(examples[name]["stringData"]), f"{name}: {keys}"
    if "-l" in argv:
        selector = argv[argv.index("-l") + 1]
        assert selector == "app.kubernetes.io/component=run_worker"


def test_run_worker_label_is_dagster_k8s_own() -> None:
    import dagster_k8s.launcher

    assert 'component="run_worker"' in Path(dagster_k8s.launcher.__file__).read_text()


def test_gateway_deployment_named_in_docs_exists() -> None:
    assert k8s_object("Deployment", "aerofs-gateway")
    assert k8s_object("Service", "aerofs-gateway")["spec"]["ports"][0]["port"] == 80
    assert any("port-forward service/aerofs-gateway 3000:80" in ln for ln in _all_sh_lines())


def test_docker_build_and_push_lines() -> None:
    images = {
        "usercode": "{repository}:{tag}".format(**user_deployment()["image"]),
        "gateway": "{repository}:{tag}".format(**values()["dagsterDaemon"]["image"]),
    }
    builds = [
        _argv(line) for line in _sh_lines(DOCS / "kubernetes.md") if line.startswith("docker build")
    ]
    assert len(builds) == 2
    for argv in builds:
        dockerfile = REPO / argv[argv.index("-f") + 1]
        assert dockerfile.parent == DOCKER and dockerfile.is_file()
        kind = dockerfile.name.split(".")[0]
        assert argv[argv.index("-t") + 1] == images[kind]
        assert argv[-1] == "."
    pushes = {
        line.split()[-1]
        for line in _sh_lines(DOCS / "kubernetes.md")
        if line.startswith("docker push")
    }
    assert pushes == set(images.values())
    # The operator guide's build lines are the ones in the Dockerfiles' headers.
    for line in _sh_lines(DOCS / "operator-guide.md"):
        if line.startswith("docker build"):
            dockerfile = REPO / _argv(line)[_argv(line).index("-f") + 1]
            assert f"#   {line}" in _text(dockerfile)


def test_compose_lines() -> None:
    header = _text(COMPOSE)
    lines = [
        ln
        for ln in _sh_lines(DOCS / "operator-guide.md")
        if ln.startswith(("cp ", "docker compose"))
    ]
    assert lines
    for line in lines:
        argv = _argv(line)
        if argv[0] == "cp":
            assert (REPO / argv[1]).is_file()
            assert f"#   {line}" in header
        else:
            assert REPO / argv[argv.index("-f") + 1] == COMPOSE
            service = next((a for a in argv[3:] if a in ("exec", "run")), None)
            if service:
                rest = argv[argv.index(service) + 1 :]
                rest = [a for a in rest if a != "--rm"]
                assert rest[0] in {"gateway", "daemon", "postgres"}
    for line in ("docker compose -f deploy/compose.yaml up -d --build",):
        assert f"#   {line}" in header
        assert line in lines


@pytest.mark.parametrize(
    "line", [ln for ln in _all_sh_lines() if "aerofs " in ln and "bin/aerofs" in ln]
)
def test_local_aerofs_lines_parse(line: str) -> None:
    argv = _argv(line)
    assert argv[0].endswith("bin/aerofs")
    build_parser().parse_args(argv[1:])


def _capacity_commands() -> list[str]:
    return sorted(set(re.findall(r"`(\.venv/bin/python [^`]+)`", _text(DOCS / "capacity.md"))))


@pytest.mark.parametrize("command", _capacity_commands())
def test_capacity_commands_exist(command: str) -> None:
    """Each number's command names a real script/module and real options."""
    argv = shlex.split(command)[1:]
    if argv[0] == "-m":
        target = [sys.executable, "-m", argv[1]]
        options = argv[2:]
    else:
        assert (REPO / argv[0]).is_file()
        target = [sys.executable, str(REPO / argv[0])]
        options = argv[1:]
    help_text = subprocess.run(
        [*target, "--help"], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert help_text.returncode == 0, help_text.stderr
    for option in options:
        if option.startswith("--"):
            assert option in help_text.stdout, f"{command}: no option {option}"


def test_capacity_has_the_numbers() -> None:
    """Every measured row has a number and the command that produced it."""
    text = _text(DOCS / "capacity.md")
    for needle in ("MB/s", "peak RSS", "batches per hour", "per batch", "per run"):
        assert needle in text
    measured = text.split("## Measured", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in measured.splitlines() if r.startswith("| ") and "---" not in r][1:]
    assert len(rows) >= 8, rows
    for row in rows:
        _what, result, command = (c.strip() for c in row.strip("|").split(" | ", 2))
        assert re.search(r"\d", result), row
        assert command.startswith("`") or command.startswith("same command"), row
    assert len(_capacity_commands()) >= 5
