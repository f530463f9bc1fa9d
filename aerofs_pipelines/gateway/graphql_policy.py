"""Which role a GraphQL request needs, decided from its parsed documents.

Every request is parsed with graphql-core (the parser the webserver itself uses): the
operation that would run is picked as graphql-core picks it (``operationName``, or the
only operation), fragments are followed, and each root field of a mutation needs its
least role from the roles table of DESIGN.md; a mutation not in the table needs admin.
Anything that cannot be parsed or is ambiguous is refused (fail closed). A batch (a JSON
array) needs the highest role of its items.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)

from aerofs_pipelines.gateway.roles import Role

V, L, E, A = Role.viewer, Role.launcher, Role.editor, Role.admin

# The least role of each mutation of the dagster 1.13 schema (41 fields).
MUTATION_LEAST_ROLE: Mapping[str, Role] = {
    "logTelemetry": V,
    "setNuxSeen": V,
    **dict.fromkeys(
        (
            "launchRun",
            "launchPipelineExecution",
            "launchMultipleRuns",
            "launchRunReexecution",
            "launchPipelineReexecution",
            "terminateRun",
            "terminateRuns",
            "terminatePipelineExecution",
            "launchPartitionBackfill",
            "resumePartitionBackfill",
            "reexecutePartitionBackfill",
            "cancelPartitionBackfill",
        ),
        L,
    ),
    **dict.fromkeys(
        (
            "startSchedule",
            "stopRunningSchedule",
            "resetSchedule",
            "scheduleDryRun",
            "startSensor",
            "stopSensor",
            "resetSensor",
            "sensorDryRun",
            "setSensorCursor",
            "deleteRun",
            "deletePipelineRun",
            "reloadRepositoryLocation",
            "reloadWorkspace",
            "wipeAssets",
            "reportRunlessAssetEvents",
            "reportAssetCheckEvaluations",
            "addDynamicPartition",
            "deleteDynamicPartitions",
            "setAutoMaterializePaused",
            "refreshComponentState",
        ),
        E,
    ),
    **dict.fromkeys(
        (
            "setConcurrencyLimit",
            "deleteConcurrencyLimit",
            "freeConcurrencySlots",
            "freeConcurrencySlotsForRun",
            "shutdownRepositoryLocation",
            "setAppManagedComponent",
            "deleteAppManagedComponent",
        ),
        A,
    ),
}

MAX_TOKENS = 200_000  # the UI's largest queries are a few thousand tokens


class PolicyError(ValueError):
    """The request cannot be judged (unparsable, ambiguous, malformed): refuse it."""


def mutation_least_role(name: str) -> Role:
    """The least role for mutation field ``name``; admin for one not in the table."""
    return MUTATION_LEAST_ROLE.get(name, Role.admin)


@dataclass(frozen=True)
class Operation:
    """One GraphQL operation as it would execute."""

    name: str | None
    kind: str  # "query" | "mutation" | "subscription" | "none" (no query given)
    fields: tuple[str, ...] = ()  # root mutation fields, in document order
    variables: Mapping[str, Any] | None = None
    has_mutation: bool = False  # the document holds a mutation (whether selected or not)

    @property
    def least_role(self) -> Role:
        """Reads need viewer; a mutation the highest role of its fields."""
        if self.kind != "mutation":
            return Role.viewer
        return max((mutation_least_role(f) for f in self.fields), default=Role.viewer)

    @property
    def is_mutation(self) -> bool:
        return self.kind == "mutation"


@dataclass(frozen=True)
class Verdict:
    """The operations of one request and the least role they need together."""

    operations: tuple[Operation, ...]
    least_role: Role = field(init=False)

    def __post_init__(self) -> None:
        role = max((op.least_role for op in self.operations), default=Role.viewer)
        object.__setattr__(self, "least_role", role)

    @property
    def mutations(self) -> tuple[Operation, ...]:
        return tuple(op for op in self.operations if op.is_mutation)

    @property
    def mutation_fields(self) -> tuple[str, ...]:
        return tuple(f for op in self.mutations for f in op.fields)

    @property
    def operation_names(self) -> str:
        return ",".join(op.name or "(anonymous)" for op in self.mutations)

    def allows(self, role: Role | None) -> bool:
        return role is not None and role >= self.least_role


def _select(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        chosen = [op for op in ops if op.name is not None and op.name.value == operation_name]
        if len(chosen) != 1:
            raise PolicyError(f"operation {operation_name!r} not found exactly once")
        return chosen[0]
    if len(ops) != 1:
        raise PolicyError("several operations and no operationName")
    return ops[0]


def _root_fields(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> Iterable[str]:
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            if sel.name.value != "__typename":
                yield sel.name.value
        elif isinstance(sel, InlineFragmentNode):
            yield from _root_fields(sel.selection_set, fragments, seen)
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            if name in seen or name not in fragments:
                raise PolicyError(f"fragment {name!r} is undefined or cyclic")
            yield from _root_fields(fragments[name].selection_set, fragments, seen | {name})
        else:  # pragma: no cover - graphql-core has no other selection kinds
            raise PolicyError(f"unknown selection {type(sel).__name__}")


def analyze(query: Any, operation_name: Any = None, variables: Any = None) -> Operation:
    """The operation ``query`` would run; PolicyError when that cannot be told safely."""
    if query is None:
        return Operation(None, "none")
    if not isinstance(query, str):
        raise PolicyError("query must be a string")
    if operation_name is not None and not isinstance(operation_name, str):
        raise PolicyError("operationName must be a string")
    if len(query) <= _CACHE_MAX_QUERY:
        op = _analyze_cached(query, operation_name or None)
    else:
        op = _analyze(query, operation_name or None)
    if isinstance(variables, Mapping):
        op = replace(op, variables=variables)
    return op


def _analyze(query: str, operation_name: str | None) -> Operation:
    try:
        document = parse(query, no_location=True, max_tokens=MAX_TOKENS)
    except GraphQLError as exc:
        raise PolicyError(f"unparsable GraphQL: {exc.message}") from None
    except RecursionError:
        raise PolicyError("GraphQL document nested too deeply") from None
    op = _select(document, operation_name)
    fields: tuple[str, ...] = ()
    if op.operation is OperationType.MUTATION:
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        fields = tuple(_root_fields(op.selection_set, fragments))
    has_mutation = any(
        isinstance(d, OperationDefinitionNode) and d.operation is OperationType.MUTATION
        for d in document.definitions
    )
    return Operation(
        name=op.name.value if op.name else None,
        kind=op.operation.value,
        fields=fields,
        has_mutation=has_mutation,
    )


# The UI sends the same documents over and over: judge each once (errors are not cached).
_CACHE_MAX_QUERY = 64 * 1024
_analyze_cached = lru_cache(maxsize=1024)(_analyze)


def _payload(data: Mapping[str, Any], name_key: str = "operationName") -> Operation:
    variables = data.get("variables")
    if isinstance(variables, str):  # the webserver accepts variables as a JSON string
        try:
            variables = json.loads(variables)
        except ValueError:
            variables = None
    return analyze(data.get("query"), data.get(name_key), variables)


def judge_http(
    method: str, content_type: str, body: bytes, query_params: Sequence[tuple[str, str]]
) -> Verdict:
    """Judge an HTTP request to ``/graphql`` read the way the webserver reads it.

    GET and POST bodies other than JSON / ``application/graphql`` take the query from the
    URL; a repeated ``query``/``operationName``/``variables`` parameter is refused.
    """
    params: dict[str, str] = {}
    for key, value in query_params:
        if key in ("query", "operationName", "variables") and key in params:
            raise PolicyError(f"repeated URL parameter {key!r}")
        params[key] = value
    if method == "POST" and "application/json" in content_type:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise PolicyError("request body is not JSON") from None
        items = data if isinstance(data, list) else [data]
        if not items or not all(isinstance(item, dict) for item in items):
            raise PolicyError("a GraphQL request must be an object or a list of objects")
        return Verdict(tuple(_payload(item) for item in items))
    if method == "POST" and "application/graphql" in content_type:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise PolicyError("request body is not UTF-8") from None
        return Verdict((analyze(text),))  # the webserver ignores URL parameters here
    return Verdict((_payload(params),))


def judge_ws_start(payload: Any) -> Operation:
    """Judge the payload of a graphql-ws ``start`` frame (the webserver reads
    ``operation_name`` there)."""
    if not isinstance(payload, Mapping):
        raise PolicyError("start frame without a payload object")
    return _payload(payload, "operation_name")
