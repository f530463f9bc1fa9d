"""Permission matrix: every mutation of the pinned schema, every role, session and token.

Gateway layer: each mutation field, enumerated from ``dagster_graphql``'s schema, is sent
as a probe declaring one unused variable, so a call the gateway lets through is refused
by Dagster's own validation (400) and executes nothing; a refused call gets 401/403 from
the gateway. Real calls for a representative set then show a refused call changes
nothing, and the Dagster layer shows each role's permissions in Dagster's own fields
(what the UI uses to disable buttons) and its ``UnauthorizedError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dagster import AssetKey, AssetMaterialization
from dagster._core.scheduler.instigation import InstigatorStatus
from dagster_graphql.schema import create_schema
from dagster_graphql.test.utils import execute_dagster_graphql
from graphql import GraphQLField, get_named_type, is_composite_type
from starlette.requests import HTTPConnection
from starlette.testclient import TestClient

from aerofs_pipelines.gateway.auth.dagster_context import PRINCIPAL_SCOPE_KEY
from aerofs_pipelines.gateway.auth.permissions import granted
from aerofs_pipelines.gateway.auth.policy import mutation_least_role
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.principal import Principal
from tests.support.gateway_harness import LOCATION, Harness, gateway_harness

SCHEMA = create_schema().graphql_schema
assert SCHEMA.mutation_type is not None
MUTATIONS: dict[str, GraphQLField] = dict(SCHEMA.mutation_type.fields)
REPO = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
CALLERS = [(None, "anonymous")] + [(r, via) for r in Role for via in ("session", "token")]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with gateway_harness(tmp_path_factory.mktemp("matrix")) as h:
        yield h


@pytest.fixture(scope="module")
def clients(harness: Harness) -> dict[tuple[Role | None, str], TestClient]:
    return {(role, via): harness.client(role, via) for role, via in CALLERS}


def probe(name: str, field: GraphQLField) -> str:
    """A mutation document for ``name`` that Dagster's validation refuses (unused var)."""
    decls = [f"${arg}: {spec.type}" for arg, spec in field.args.items()] + ["$gatewayProbe: Int"]
    args = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    selection = "{ __typename }" if is_composite_type(get_named_type(field.type)) else ""
    call = f"{name}({args})" if args else name
    return f"mutation Probe({', '.join(decls)}) {{ {call} {selection} }}"


def test_every_mutation_for_every_caller(
    harness: Harness, clients: dict[tuple[Role | None, str], TestClient]
) -> None:
    before = len(harness.store.audit.events(limit=100_000))
    sent = anonymous = 0
    for name, field in sorted(MUTATIONS.items()):
        least = mutation_least_role(name)
        query = probe(name, field)
        for (role, via), client in clients.items():
            response = harness.graphql(client, query)
            sent += 1
            where = f"{name} as {role.name if role else 'anonymous'} ({via})"
            if role is None:
                anonymous += 1
                assert response.status_code == 401, where
            elif role < least:
                assert response.status_code == 403, where
                assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN", where
            else:  # through the gateway; Dagster's validation refused the probe itself
                assert response.status_code == 400, where
                assert "gatewayProbe" in response.text, where
    assert sent == len(MUTATIONS) * len(CALLERS) == 41 * 9
    events = harness.store.audit.events(limit=100_000)
    new = events[: len(events) - before]
    # every call of a known caller, allowed or denied, was audited as a mutation
    mutations = [e for e in new if e.event == "mutation"]
    assert len(mutations) == sent - anonymous
    assert {e.outcome for e in mutations} == {"allowed", "denied"}
    # anonymous calls are refused unread: audited as such, a few per address and minute
    limit = harness.app.anonymous_audit.per_address
    unread = [e for e in new if e.event == "anonymous"]
    assert len(unread) == limit + 1 < anonymous
    assert {(e.outcome, e.operation, e.username) for e in unread} == {
        ("denied", "POST /graphql", None)
    }
    assert "not recorded" in unread[0].detail  # the newest: the last one of the minute
    assert len(new) == len(mutations) + len(unread)


# ------------------------------------------------------------- real calls, no effect

LAUNCH = """mutation Launch($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } } }"""
LAUNCH_VARS = {
    "p": {
        "selector": {**REPO, "jobName": "lettered_job"},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "a"}]},
    }
}
BACKFILL = """mutation Backfill($p: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $p) { __typename } }"""
BACKFILL_VARS = {"p": {"assetSelection": [{"path": ["lettered"]}], "partitionNames": ["a", "b"]}}
WIPE = """mutation Wipe($r: [PartitionsByAssetSelector!]!) { wipeAssets(assetPartitionRanges: $r)
  { __typename } }"""
WIPE_VARS = {"r": [{"assetKey": {"path": ["plain"]}}]}
ADD_PARTITION = """mutation Add($r: RepositorySelector!) { addDynamicPartition(
  repositorySelector: $r, partitionsDefName: "batches", partitionKey: "b1") { __typename } }"""
START_SCHEDULE = """mutation S($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s)
  { __typename } }"""
START_SENSOR = """mutation S($s: SensorSelector!) { startSensor(sensorSelector: $s)
  { __typename } }"""


def _running(harness: Harness, name: str) -> bool:
    return any(
        s.name == name and s.status == InstigatorStatus.RUNNING
        for s in harness.instance.all_instigator_state()
    )


STATE: dict[str, Any] = {
    "launch": lambda h: h.instance.get_runs_count(),
    "backfill": lambda h: len(h.instance.get_backfills()),
    "wipe": lambda h: h.instance.get_latest_materialization_event(AssetKey("plain")) is not None,
    "partition": lambda h: list(h.instance.get_dynamic_partitions("batches")),
    "schedule": lambda h: _running(h, "nightly"),
    "sensor": lambda h: _running(h, "watcher"),
}
CASES = [
    ("launch", LAUNCH, LAUNCH_VARS, Role.launcher, "LaunchRunSuccess"),
    ("backfill", BACKFILL, BACKFILL_VARS, Role.launcher, "LaunchBackfillSuccess"),
    ("wipe", WIPE, WIPE_VARS, Role.editor, "AssetWipeSuccess"),
    ("partition", ADD_PARTITION, {"r": REPO}, Role.editor, "AddDynamicPartitionSuccess"),
    (
        "schedule",
        START_SCHEDULE,
        {"s": {**REPO, "scheduleName": "nightly"}},
        Role.editor,
        "ScheduleStateResult",
    ),
    ("sensor", START_SENSOR, {"s": {**REPO, "sensorName": "watcher"}}, Role.editor, "Sensor"),
]


@pytest.mark.parametrize(("what", "query", "variables", "least", "success"), CASES)
def test_a_refused_call_changes_nothing(
    harness: Harness,
    clients: dict[tuple[Role | None, str], TestClient],
    what: str,
    query: str,
    variables: dict[str, Any],
    least: Role,
    success: str,
) -> None:
    if what == "wipe":
        harness.instance.report_runless_asset_event(AssetMaterialization("plain"))
    state = STATE[what]
    before = state(harness)
    for (role, via), client in clients.items():
        if role is not None and role >= least:
            continue
        response = harness.graphql(client, query, variables)
        assert response.status_code == (401 if role is None else 403), (role, via)
        assert state(harness) == before, f"{what} by {role} ({via}) changed the instance"
    # the same call by the least role goes through and takes effect
    response = harness.graphql(clients[(least, "token")], query, variables)
    assert response.status_code == 200, response.text
    assert response.json()["data"].popitem()[1]["__typename"] == success, response.text
    assert state(harness) != before


# ------------------------------------------------------------- inside Dagster

PERMISSIONS = "{ permissions { permission value disabledReason } }"
ASSET_PERMISSIONS = """{ assetNodes { assetKey { path } hasMaterializePermission
  hasWipePermission hasReportRunlessAssetEventPermission } }"""


@pytest.mark.parametrize("role", list(Role))
def test_dagster_reports_the_roles_permissions(
    harness: Harness, clients: dict[tuple[Role | None, str], TestClient], role: Role
) -> None:
    response = harness.graphql(clients[(role, "session")], PERMISSIONS)
    assert response.status_code == 200, response.text
    values = {p["permission"]: p["value"] for p in response.json()["data"]["permissions"]}
    assert {name for name, value in values.items() if value} == granted(role)
    assert len(values) == 21

    nodes = harness.graphql(clients[(role, "token")], ASSET_PERMISSIONS).json()["data"]
    lettered = next(n for n in nodes["assetNodes"] if n["assetKey"]["path"] == ["lettered"])
    assert lettered["hasMaterializePermission"] is (role >= Role.launcher)
    assert lettered["hasWipePermission"] is (role >= Role.editor)
    assert lettered["hasReportRunlessAssetEventPermission"] is (role >= Role.editor)


def _context_for(harness: Harness, role: Role | None) -> Any:
    scope: dict[str, Any] = {"type": "http", "path": "/graphql", "headers": []}
    if role is not None:
        scope[PRINCIPAL_SCOPE_KEY] = Principal(role.name, role, "session")
    return harness.process_context.create_request_context(HTTPConnection(scope))


def test_dagster_itself_refuses_what_the_role_may_not_do(harness: Harness) -> None:
    """Even past the gateway, Dagster's resolvers answer UnauthorizedError."""
    runs = harness.instance.get_runs_count()
    for role in (None, Role.viewer):
        result = execute_dagster_graphql(_context_for(harness, role), LAUNCH, LAUNCH_VARS)
        assert result.data["launchRun"]["__typename"] == "UnauthorizedError"
    result = execute_dagster_graphql(_context_for(harness, Role.launcher), WIPE, WIPE_VARS)
    assert result.data["wipeAssets"]["__typename"] == "UnauthorizedError"
    assert harness.instance.get_runs_count() == runs
    result = execute_dagster_graphql(_context_for(harness, Role.launcher), LAUNCH, LAUNCH_VARS)
    assert result.data["launchRun"]["__typename"] == "LaunchRunSuccess"
    assert harness.instance.get_runs_count() == runs + 1


def test_harness_location_loaded(harness: Harness) -> None:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
    data = execute_dagster_graphql(_context_for(harness, Role.viewer), query).data
    assert [e["name"] for e in data["workspaceOrError"]["locationEntries"]] == [LOCATION]
