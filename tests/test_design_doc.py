"""docs/design.md prints the roles table the gateway enforces (``ROLE_TABLE``)."""

from __future__ import annotations

from pathlib import Path

from aerofs_pipelines.gateway.auth.policy import ROLE_TABLE

DESIGN = Path(__file__).resolve().parents[1] / "docs" / "design.md"


def table_rows() -> dict[str, list[set[str]]]:
    text = DESIGN.read_text(encoding="utf-8")
    start = text.index("| least role | Dagster permissions | GraphQL mutations | REST writes |")
    rows: dict[str, list[set[str]]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = [{x.strip() for x in c.split(",") if x.strip()} for c in cells[1:]]
    return rows


def test_the_roles_table_of_the_design_is_the_enforced_one() -> None:
    rows = table_rows()
    assert list(rows) == [g.role.name for g in ROLE_TABLE]
    for grants in ROLE_TABLE:
        permissions, mutations, rest = rows[grants.role.name]
        assert permissions - {"none (reads", "subscriptions)"} == {
            p.value for p in grants.dagster_permissions
        }
        assert mutations == set(grants.mutations)
        assert rest - {"users", "tokens and the audit log (CLI)"} == set(grants.rest_writes)
