"""Which role a GraphQL request needs, decided from its parsed documents.

Every request is parsed with graphql-core (the parser the webserver itself uses): the
operation that would run is picked as graphql-core picks it (``operationName``, or the
only operation), fragments are followed, and each root field of a mutation needs its
least role from the roles table (:mod:`.policy`); a mutation not in it needs admin.
Anything that cannot be parsed or is ambiguous is refused (fail closed). A batch (a JSON
array) needs the highest role of its items.

Work is bounded whatever the document: its size, tokens, nesting depth and number of
fragments are capped (``MAX_*``; a batch's documents together count as one), and each
fragment is walked once however often it is spread (a "fragment bomb" costs one pass).
The gateway calls these functions in a worker thread, never on the event loop, and only
for callers it has already authenticated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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

from aerofs_pipelines.gateway.auth.policy import mutation_least_role
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.jsonsafe import parse_json

# Bounds on a document, checked before anything walks it: well above what the UI sends
# (docs/security.md has its largest documents), with room for API clients.
MAX_QUERY_CHARS = 256 * 1024
MAX_TOKENS = 20_000
MAX_DEPTH = 64  # nested selection sets, counted through fragments
MAX_FRAGMENTS = 500
MAX_BATCH = 32  # operations in one JSON array


class PolicyError(ValueError):
    """The request cannot be judged (unparsable, ambiguous, malformed): refuse it."""


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


_RootItem = str | tuple[str]  # a root field's name, or ``(fragment,)`` for a spread there


def _root_items(selection_set: SelectionSetNode) -> list[_RootItem]:
    """The root fields and fragment spreads of a selection set, in document order (inline
    fragments opened, spreads left for :func:`_shapes` to resolve)."""
    items: list[_RootItem] = []
    open_sets = [iter(selection_set.selections)]
    while open_sets:
        sel = next(open_sets[-1], None)
        if sel is None:
            open_sets.pop()
        elif isinstance(sel, FieldNode):
            if sel.name.value != "__typename":
                items.append(sel.name.value)
        elif isinstance(sel, InlineFragmentNode):
            open_sets.append(iter(sel.selection_set.selections))
        elif isinstance(sel, FragmentSpreadNode):
            items.append((sel.name.value,))
        else:  # pragma: no cover - graphql-core has no other selection kinds
            raise PolicyError(f"unknown selection {type(sel).__name__}")
    return items


def _nesting(selection_set: SelectionSetNode) -> tuple[int, dict[str, int]]:
    """A selection set's own depth, and the deepest level each fragment is spread at."""
    depth = 0
    spreads: dict[str, int] = {}
    stack = [(selection_set, 0)]
    while stack:
        current, level = stack.pop()
        depth = max(depth, level)
        for sel in current.selections:
            if isinstance(sel, FieldNode):
                if sel.selection_set is not None:
                    stack.append((sel.selection_set, level + 1))
            elif isinstance(sel, InlineFragmentNode):
                stack.append((sel.selection_set, level))
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                spreads[name] = max(level, spreads.get(name, 0))
    return depth, spreads


@dataclass(frozen=True)
class _Shape:
    """What one selection set (of an operation or a fragment) holds, its fragments
    resolved: its root fields in document order, and how deep it nests."""

    fields: tuple[str, ...]
    depth: int


def _shapes(selection_sets: Mapping[str, SelectionSetNode]) -> dict[str, _Shape]:
    """The shape of every named selection set, each visited once: a depth-first walk over
    fragment spreads, memoized and iterative, so neither a fragment bomb (a fragment
    spreading the next one twice, 23 levels down) nor a long chain costs more than one
    pass over the document. Undefined and cyclic spreads are refused."""
    nesting = {name: _nesting(sset) for name, sset in selection_sets.items()}
    done: dict[str, _Shape] = {}

    def finish(name: str) -> None:
        own_depth, spreads = nesting[name]
        deepest = max([own_depth, *(at + done[s].depth for s, at in spreads.items())])
        if deepest > MAX_DEPTH:
            raise PolicyError(f"GraphQL document nested deeper than {MAX_DEPTH} levels")
        fields: dict[str, None] = {}
        for item in _root_items(selection_sets[name]):
            for f in done[item[0]].fields if isinstance(item, tuple) else (item,):
                fields.setdefault(f, None)
        done[name] = _Shape(tuple(fields), deepest)

    for start in selection_sets:
        if start in done:
            continue
        path = [(start, iter(nesting[start][1]))]
        on_path = {start}
        while path:
            name, spreads = path[-1]
            spread = next(spreads, None)
            if spread is None:
                path.pop()
                on_path.discard(name)
                finish(name)
            elif spread not in done:
                if spread not in nesting or spread in on_path:
                    raise PolicyError(f"fragment {spread!r} is undefined or cyclic")
                path.append((spread, iter(nesting[spread][1])))
                on_path.add(spread)
    return done


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
    if len(query) > MAX_QUERY_CHARS:
        raise PolicyError(f"GraphQL document longer than {MAX_QUERY_CHARS} characters")
    try:
        document = parse(query, no_location=True, max_tokens=MAX_TOKENS)
    except GraphQLError as exc:
        raise PolicyError(f"unparsable GraphQL: {exc.message}") from None
    except RecursionError:
        raise PolicyError("GraphQL document nested too deeply") from None
    op = _select(document, operation_name)
    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    if len(fragments) > MAX_FRAGMENTS:
        raise PolicyError(f"GraphQL document with more than {MAX_FRAGMENTS} fragments")
    named: dict[str, SelectionSetNode] = {}
    for fragment in fragments:
        if fragment.name.value in named:
            raise PolicyError(f"fragment {fragment.name.value!r} defined twice")
        named[fragment.name.value] = fragment.selection_set
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    keys = {id(d): f" operation {i}" for i, d in enumerate(operations)}  # not fragment names
    for d in operations:
        named[keys[id(d)]] = d.selection_set
    shapes = _shapes(named)
    fields = shapes[keys[id(op)]].fields if op.operation is OperationType.MUTATION else ()
    has_mutation = any(d.operation is OperationType.MUTATION for d in operations)
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
            variables = parse_json(variables)
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
            data = parse_json(body)
        except ValueError as exc:
            raise PolicyError(f"request body is not JSON ({exc})") from None
        items = data if isinstance(data, list) else [data]
        if not items or not all(isinstance(item, dict) for item in items):
            raise PolicyError("a GraphQL request must be an object or a list of objects")
        if len(items) > MAX_BATCH:
            raise PolicyError(f"a batch of more than {MAX_BATCH} operations")
        size = sum(len(item["query"]) for item in items if isinstance(item.get("query"), str))
        if size > MAX_QUERY_CHARS:
            raise PolicyError(f"GraphQL documents longer than {MAX_QUERY_CHARS} characters")
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
