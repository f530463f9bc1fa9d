"""Data flows one way: what each package of ``aerofs_pipelines`` may import (docs/design.md).

Every import is checked, lazy ones inside functions included:

- ``kernels`` knows nothing else of the package, and no Dagster;
- ``alerts``, ``batch``, ``landing``, ``registry`` and ``lake`` know no Dagster
  (``lake.io_manager``, a Dagster IO manager, aside), no Dagster objects (``defs``), no
  gateway, no CLI;
- the gateway knows no assets: no ``defs``, ``batch``, ``lake``, ``landing``, ``registry``,
  and not the batch API it serves (``api``, mounted by ``cli``); inside it, ``auth``,
  ``identity`` and ``store`` know no ``app``;
- the batch API (``api``) knows no Dagster objects (``defs``) and no CLI;
- ``defs`` knows no gateway and no CLI; nothing but ``cli`` itself imports the CLI;
- ``alerts`` imports nothing but the standard library and ``config``;
- ``config`` and ``sqlite_wal`` import nothing but the standard library.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import aerofs_pipelines

PACKAGE = Path(aerofs_pipelines.__file__).parent
NAME = "aerofs_pipelines"


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names, lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_of(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def within(module: str, package: str) -> bool:
    name = f"{NAME}.{package}"
    return module == name or module.startswith(name + ".")


def offenders(package: str, forbidden: list[str], *, allowed: tuple[str, ...] = ()) -> list[str]:
    """``module -> import`` pairs of ``package`` that touch a ``forbidden`` prefix."""
    bad = []
    for module, imported in MODULES.items():
        if not within(module, package) or module in allowed:
            continue
        for name in sorted(imported):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{module} -> {name}")
    return bad


def pkg(*names: str) -> list[str]:
    return [f"{NAME}.{n}" for n in names]


DAGSTER = ["dagster", "dagster_webserver", "dagster_graphql", "dagster_pandera", "dagster_aws"]


def test_every_module_was_read() -> None:
    assert len(MODULES) > 60 and f"{NAME}.batch.manifest" in MODULES


def test_kernels_know_nothing_else() -> None:
    others = pkg("batch", "defs", "lake", "landing", "registry", "gateway", "cli", "config")
    assert offenders("kernels", [*DAGSTER, *others]) == []


@pytest.mark.parametrize("package", ["alerts", "batch", "landing", "registry", "lake"])
def test_domain_packages_know_no_dagster(package: str) -> None:
    forbidden = [*DAGSTER, *pkg("defs", "gateway", "cli", "_dagster_compat")]
    assert offenders(package, forbidden, allowed=(f"{NAME}.lake.io_manager",)) == []


def test_alerts_are_the_standard_library_and_the_settings() -> None:
    """Any sensor (or a later caller) can raise an alert: nothing to install, no pipeline."""
    others = pkg("batch", "defs", "kernels", "lake", "landing", "registry", "gateway", "cli")
    assert offenders("alerts", [*DAGSTER, *others, f"{NAME}._dagster_compat"]) == []
    outside = {
        name.split(".")[0]
        for module, imported in MODULES.items()
        if within(module, "alerts")
        for name in imported
    } - set(sys.stdlib_module_names)
    assert outside <= {"__future__", NAME}


def test_the_gateway_knows_no_assets() -> None:
    forbidden = pkg("defs", "batch", "lake", "landing", "registry", "cli", "definitions", "api")
    assert offenders("gateway", forbidden) == []


def test_the_batch_api_knows_no_dagster_objects() -> None:
    assert offenders("api", pkg("defs", "definitions", "cli", "_dagster_compat")) == []


@pytest.mark.parametrize("package", ["gateway.auth", "gateway.identity", "gateway.store"])
def test_the_gateways_inner_layers_know_no_app(package: str) -> None:
    """The app is built on auth, identity and store, never the other way round."""
    assert offenders(package, pkg("gateway.app", "gateway.serve")) == []


def test_identity_knows_no_store_and_no_auth_policy() -> None:
    forbidden = pkg("gateway.store", "gateway.auth.backends", "gateway.auth.policy")
    assert offenders("gateway.identity", forbidden) == []


def test_dagster_objects_know_no_gateway_or_cli() -> None:
    assert offenders("defs", pkg("gateway", "cli")) == []


def test_only_the_cli_imports_the_cli() -> None:
    users = [m for m, imported in MODULES.items() if not within(m, "cli")]
    assert [m for m in users if any(i.startswith(f"{NAME}.cli") for i in MODULES[m])] == []


def test_sqlite_wal_is_standard_library_only() -> None:
    imported = {i.split(".")[0] for i in MODULES[f"{NAME}.sqlite_wal"]}
    assert imported <= {"__future__", "sqlite3", "time", "collections"}


def test_config_is_standard_library_only() -> None:
    imported = {i.split(".")[0] for i in MODULES[f"{NAME}.config"]}
    assert imported <= {"__future__", "ipaddress", "os", "collections", "dataclasses",
                        "pathlib", "socket", "typing", "urllib"}  # fmt: skip
