"""docs/api.md is executable: its examples run against a real ``aerofs serve``.

The page's fenced blocks, in document order:

- ``python``: executed in one shared namespace (later blocks use earlier names), with
  ``AEROFS_URL``, ``AEROFS_TOKEN`` and ``AEROFS_VIEWER_TOKEN`` in the environment;
- ``sh``: run by ``bash -euo pipefail`` with the server's ``DAGSTER_HOME`` and the same
  variables (``aerofs`` on ``PATH``);
- ``text`` right after one of those: its expected output, compared like a doctest
  (``...`` matches anything, whitespace runs are equal);
- anything else (``console``) is for reading only.

``AEROFS_TOKEN`` is the token the page's own ``aerofs tokens create`` printed, so the
documented way of getting a token is what the examples use. The batches the examples
name are registered beforehand, as the landing sensor would. Afterwards the server is
asked independently (an admin token) whether what the page claims happened did happen.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.live_server import ROOT, LiveServer, live_server

DOC = ROOT / "docs" / "api.md"
BATCHES = ("2026-11-26-a", "2026-11-26-b", "2026-11-26-c")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*\n", re.M | re.S)
RUNNABLE = ("python", "sh")
CHECKER = doctest.OutputChecker()
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# dagster-graphql 1.13 calls gql's execute() the old way; not the page's concern.
pytestmark = pytest.mark.filterwarnings("ignore:Using variable_values:DeprecationWarning")


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int
    expected: str | None = None

    @property
    def where(self) -> str:
        return f"docs/api.md:{self.line} ({self.lang})"


def doc_blocks(text: str) -> list[Block]:
    """The runnable blocks of ``text``, each with the output block that follows it."""
    fences = list(FENCE.finditer(text))
    found: list[Block] = []
    for i, fence in enumerate(fences):
        if fence["lang"] not in RUNNABLE:
            continue
        expected = None
        after = fences[i + 1] if i + 1 < len(fences) else None
        if (
            after is not None
            and after["lang"] == "text"
            and not text[fence.end() : after.start()].strip()
        ):
            expected = after["body"]
        line = text.count("\n", 0, fence.start()) + 2
        found.append(Block(fence["lang"], fence["body"], line, expected))
    return found


def check_output(block: Block, output: str) -> None:
    if block.expected is not None and not CHECKER.check_output(block.expected, output, OPTIONS):
        raise AssertionError(
            f"{block.where}: output differs from the page\n"
            f"--- expected\n{block.expected}--- got\n{output}"
        )


def run_sh(block: Block, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{block.where} exited with {done.returncode}\n{block.code}\n"
            f"stdout: {done.stdout}\nstderr: {done.stderr}"
        )
    return done.stdout


def run_python(block: Block, namespace: dict[str, Any]) -> str:
    out = io.StringIO()
    code = compile(block.code, block.where, "exec")
    with contextlib.redirect_stdout(out):
        exec(code, namespace)
    return out.getvalue()


def printed_token(output: str) -> str | None:
    """The token of an ``aerofs tokens create --json`` line in ``output``, if any."""
    for line in output.splitlines():
        with contextlib.suppress(ValueError):
            obj = json.loads(line)
            if isinstance(obj, dict) and isinstance(obj.get("token"), str):
                return str(obj["token"])
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("api-docs")) as live:
        live.add_batches(BATCHES)
        live.add_user("dana", "viewer", "dana-viewer-password")
        yield live


def admin_graphql(server: LiveServer, token: str, query: str, **variables: Any) -> Any:
    response = httpx.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


def test_the_page_covers_the_api_surface() -> None:
    text = DOC.read_text()
    for needle in (
        "DagsterGraphQLClient",
        "Authorization: Bearer",
        "aerofs tokens create --user ci-bot --role launcher --json",
        "submit_job_execution",
        "get_run_status",
        "launchPartitionBackfill",
        "partitionBackfillOrError",
        "401",
        "403",
        "/api/batches/{batch_id}/files/{name}",
        "/api/openapi.json",
        "aerofs ingest orders-2.csv --batch 2026-12-01-cli --url",
    ):
        assert needle in text, f"docs/api.md no longer mentions {needle!r}"
    blocks = doc_blocks(text)
    assert sum(b.lang == "python" for b in blocks) >= 6
    assert sum(b.lang == "sh" for b in blocks) >= 2
    assert all(b.expected is not None for b in blocks if "print(" in b.code)


def test_the_examples_run(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **server.env,
        "AEROFS_URL": server.url,
        "AEROFS_VIEWER_TOKEN": server.create_token("dana"),
        "PATH": os.pathsep.join([bin_dir, server.env.get("PATH", "")]),
    }
    namespace: dict[str, Any] = {"__name__": "docs_api"}
    for block in doc_blocks(DOC.read_text()):
        if block.lang == "sh":
            output = run_sh(block, env, tmp_path)
            token = printed_token(output)
            if token is not None:
                env["AEROFS_TOKEN"] = token
        else:
            assert "AEROFS_TOKEN" in env, f"{block.where}: no token was created before it"
            for key in ("AEROFS_URL", "AEROFS_TOKEN", "AEROFS_VIEWER_TOKEN"):
                monkeypatch.setenv(key, env[key])
            output = run_python(block, namespace)
        check_output(block, output)

    # What the page says happened, seen by an admin.
    admin = server.create_token("admin")
    runs = admin_graphql(
        server,
        admin,
        "{ runsOrError { ... on Runs { results { runId status jobName tags { key value } } } } }",
    )["runsOrError"]["results"]
    by_batch = {
        tag["value"]: run["status"]
        for run in runs
        for tag in run["tags"]
        if tag["key"] == "dagster/partition"
    }
    assert by_batch == dict.fromkeys(BATCHES, "SUCCESS"), runs
    assert {run["jobName"] for run in runs} == {"process_batch"}
    backfills = admin_graphql(
        server,
        admin,
        "{ partitionBackfillsOrError { ... on PartitionBackfills { results { id status } } } }",
    )["partitionBackfillsOrError"]["results"]
    # one backfill (the viewer's attempt changed nothing); its status may lag its runs
    assert [b["id"] for b in backfills] == [namespace["backfill_id"]], backfills
    assert backfills[0]["status"] in ("REQUESTED", "COMPLETED_SUCCESS"), backfills

    # Every mutation is in the audit log, the refused ones included.
    events = json.loads(server.aerofs("audit", "--json", "--limit", "200"))["events"]
    mutations = [
        (e["username"], e["outcome"], tuple(e["fields"]))
        for e in events
        if e["event"] == "mutation"
    ]
    assert ("ci-bot", "allowed", ("launchPipelineExecution",)) in mutations
    assert ("ci-bot", "allowed", ("launchPartitionBackfill",)) in mutations
    assert ("dana", "denied", ("launchPartitionBackfill",)) in mutations
    assert ("dana", "denied", ("launchPipelineExecution",)) in mutations
    # and the batch API's writes, by operation
    writes = [(e["username"], e["outcome"], e["operation"]) for e in events]
    assert ("ci-bot", "allowed", "uploadBatchFile") in writes
    assert ("ci-bot", "allowed", "completeBatch") in writes
    assert ("dana", "denied", "uploadBatchFile") in writes
