"""The GraphQL policy on its own: parsing, operation choice, fragments, batches."""

from __future__ import annotations

import json

import pytest
from dagster_graphql.schema import create_schema

from aerofs_pipelines.gateway.auth.graphql import (
    MAX_BATCH,
    MAX_DEPTH,
    MAX_FRAGMENTS,
    MAX_QUERY_CHARS,
    MAX_TOKENS,
    PolicyError,
    analyze,
    judge_http,
    judge_ws_start,
)
from aerofs_pipelines.gateway.auth.policy import MUTATION_LEAST_ROLE, mutation_least_role
from aerofs_pipelines.gateway.auth.roles import Role

WIPE = "mutation Wipe { wipeAssets(assetPartitionRanges: []) { __typename } }"


def post(payload: object) -> bytes:
    return json.dumps(payload).encode()


def test_table_matches_the_pinned_schema() -> None:
    schema = create_schema().graphql_schema
    assert schema.mutation_type is not None
    assert set(MUTATION_LEAST_ROLE) == set(schema.mutation_type.fields)
    assert len(MUTATION_LEAST_ROLE) == 41
    counts = {r: sum(1 for v in MUTATION_LEAST_ROLE.values() if v == r) for r in Role}
    assert counts == {Role.viewer: 2, Role.launcher: 12, Role.editor: 20, Role.admin: 7}


def test_unknown_mutation_needs_admin() -> None:
    assert mutation_least_role("someFutureMutation") == Role.admin
    op = analyze("mutation { someFutureMutation { ok } setNuxSeen }")
    assert op.least_role == Role.admin


def test_queries_and_subscriptions_need_viewer() -> None:
    assert analyze("{ version }").least_role == Role.viewer
    assert analyze('subscription S { pipelineRunLogs(runId: "x") { __typename } }').kind == (
        "subscription"
    )
    assert analyze(None).kind == "none"


def test_fields_are_found_through_fragments_aliases_and_inline_fragments() -> None:
    query = """
    mutation M { ...Outer  mine: setNuxSeen  __typename }
    fragment Outer on Mutation { ... on Mutation { ...Inner } }
    fragment Inner on Mutation { launchRun(executionParams: {}) { __typename } }
    """
    op = analyze(query)
    assert op.fields == ("launchRun", "setNuxSeen")
    assert op.least_role == Role.launcher


@pytest.mark.parametrize(
    "query",
    [
        "mutation { ...Missing }",
        "mutation { ...A } fragment A on Mutation { ...B } fragment B on Mutation { ...A }",
        "mutation { wipeAssets(",
        "{ a } { b }",  # two anonymous operations: graphql-core would refuse too
        "",
    ],
)
def test_unjudgeable_documents_are_refused(query: str) -> None:
    with pytest.raises(PolicyError):
        analyze(query)


def test_operation_name_picks_the_operation_that_runs() -> None:
    doc = "query Q { version } " + WIPE
    assert analyze(doc, "Q").least_role == Role.viewer
    assert analyze(doc, "Wipe").least_role == Role.editor
    with pytest.raises(PolicyError):
        analyze(doc)  # ambiguous without operationName
    with pytest.raises(PolicyError):
        analyze(doc, "Nope")
    with pytest.raises(PolicyError):
        analyze(doc, 3)
    assert analyze(doc, "Q").has_mutation


def test_http_json_batches_need_their_highest_item() -> None:
    batch = [{"query": "{ version }"}, {"query": WIPE}, {"query": "mutation { setNuxSeen }"}]
    verdict = judge_http("POST", "application/json", post(batch), [])
    assert verdict.least_role == Role.editor
    assert verdict.mutation_fields == ("wipeAssets", "setNuxSeen")
    assert not verdict.allows(Role.launcher) and verdict.allows(Role.editor)
    assert not verdict.allows(None)
    for bad in ([], [1], "x", [{"query": 5}]):
        with pytest.raises(PolicyError):
            judge_http("POST", "application/json", post(bad), [])
    with pytest.raises(PolicyError):
        judge_http("POST", "application/json", b"{not json", [])


def test_http_reads_the_query_where_the_webserver_reads_it() -> None:
    # GET and non-JSON, non-GraphQL POST bodies: the URL parameters
    get = judge_http("GET", "", b"", [("query", WIPE)])
    assert get.least_role == Role.editor and get.mutations
    form = judge_http("POST", "application/x-www-form-urlencoded", b"query=x", [("query", WIPE)])
    assert form.least_role == Role.editor
    # application/graphql: the body, and the URL's operationName is ignored
    gql = judge_http("POST", "application/graphql", WIPE.encode(), [("operationName", "X")])
    assert gql.least_role == Role.editor
    # variables given as a JSON string are summarized like an object
    v = judge_http("POST", "application/json", post({"query": WIPE, "variables": '{"a": 1}'}), [])
    assert v.mutations[0].variables == {"a": 1}
    with pytest.raises(PolicyError):
        judge_http("GET", "", b"", [("query", "{ version }"), ("query", WIPE)])


def test_websocket_start_frames() -> None:
    assert judge_ws_start({"query": "subscription { locationStateChangeEvents { __typename } }"})
    op = judge_ws_start({"query": "subscription S { x } " + WIPE, "operation_name": "S"})
    assert op.kind == "subscription" and op.has_mutation
    with pytest.raises(PolicyError):
        judge_ws_start("nope")


def test_documents_are_bounded() -> None:
    with pytest.raises(PolicyError, match="longer than"):
        analyze("{ " + "version " * (MAX_QUERY_CHARS // 8) + "}")
    with pytest.raises(PolicyError, match="unparsable"):  # graphql-core's token limit
        analyze("{ " + "v " * (MAX_TOKENS + 1) + "}")
    with pytest.raises(PolicyError, match="deeper than"):
        analyze("{ " + "a { " * (MAX_DEPTH + 1) + "b" + " }" * (MAX_DEPTH + 2))
    assert analyze("{ " + "a { " * MAX_DEPTH + "b" + " }" * (MAX_DEPTH + 1)).kind == "query"
    spreads = " ".join(f"fragment F{i} on Query {{ version }}" for i in range(MAX_FRAGMENTS + 1))
    with pytest.raises(PolicyError, match="fragments"):
        analyze("{ ...F0 } " + spreads)
    batch = [{"query": "{ version }"}] * (MAX_BATCH + 1)
    with pytest.raises(PolicyError, match="batch"):
        judge_http("POST", "application/json", post(batch), [])
    half = "{ " + "version " * (MAX_QUERY_CHARS // 16) + "}"
    with pytest.raises(PolicyError, match="longer than"):  # together over the bound
        judge_http("POST", "application/json", post([{"query": half}] * 3), [])


def test_depth_counts_through_fragments() -> None:
    # each fragment nests 10 levels and spreads the next one at its bottom
    chain = [
        f"fragment F{i} on Q {{ " + "a { " * 10 + f"...F{i + 1}" + " }" * 10 + " }"
        for i in range(7)
    ]
    chain.append("fragment F7 on Q { b }")
    with pytest.raises(PolicyError, match="deeper than"):  # 70 levels through 7 fragments
        analyze("{ ...F0 } " + " ".join(chain))
    assert analyze("{ ...F1 } " + " ".join(chain[1:])).kind == "query"  # 60 levels


def fragment_bomb(levels: int) -> str:
    parts = ["mutation Bomb { ...F0 }"]
    parts += [f"fragment F{i} on Mutation {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    parts.append(f"fragment F{levels} on Mutation {{ launchRun {{ __typename }} }}")
    return " ".join(parts)


def test_a_fragment_bomb_is_walked_once() -> None:
    import time

    started = time.process_time()
    op = analyze(fragment_bomb(400))  # 2**400 expansions if each spread were followed
    assert time.process_time() - started < 1.0
    assert op.fields == ("launchRun",) and op.least_role == Role.launcher


def test_cycles_and_repeats_through_shared_fragments() -> None:
    shared = (
        "mutation { ...A ...B } fragment A on Mutation { ...C } "
        "fragment B on Mutation { ...C setNuxSeen } fragment C on Mutation { launchRun }"
    )
    assert analyze(shared).fields == ("launchRun", "setNuxSeen")  # C shared, not cyclic
    with pytest.raises(PolicyError, match="cyclic"):
        analyze(shared.replace("{ launchRun }", "{ ...B }"))
    with pytest.raises(PolicyError, match="defined twice"):
        analyze("{ ...A } fragment A on Q { a } fragment A on Q { b }")
