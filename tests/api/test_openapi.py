"""The batch API's contract is written once per endpoint (``api.ENDPOINTS``): the OpenAPI
document and docs/design.md say the same least roles, and every route is served."""

from __future__ import annotations

import re
from pathlib import Path

from aerofs_pipelines.api import ENDPOINTS, BatchApi
from aerofs_pipelines.api.openapi import document
from aerofs_pipelines.gateway.app.mounts import match_endpoint

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"
PAGES = {"/upload", "/upload/upload.js"}


def test_every_api_endpoint_is_documented_with_its_least_role() -> None:
    paths = document()["paths"]
    documented = {
        (method.upper(), path, op["x-aerofs-least-role"], op["operationId"])
        for path, ops in paths.items()
        for method, op in ops.items()
    }
    expected = {
        (e.method, e.path, e.least_role.name, e.operation) for e in ENDPOINTS if e.path not in PAGES
    }
    assert documented == expected


def test_the_design_lists_the_endpoints_with_their_roles() -> None:
    text = DESIGN.read_text(encoding="utf-8")
    start = text.index("| endpoint | least role | audited as |")
    rows = {}
    for line in text[start:].splitlines()[2:]:
        if not line.strip().startswith("|"):
            break
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = (cells[1], cells[2])
    assert rows == {
        f"{e.method} {e.path}": (e.least_role.name, e.operation if e.writes else "")
        for e in ENDPOINTS
    }


def test_writes_are_the_launchers_and_audited() -> None:
    writes = [e for e in ENDPOINTS if e.method not in ("GET", "HEAD")]
    assert writes and all(e.writes and e.least_role.name == "launcher" for e in writes)


def test_each_endpoint_matches_its_own_route_and_nothing_else_under_the_prefixes() -> None:
    app = BatchApi.__new__(BatchApi)  # the declarations only: no instance, no storage
    for e in ENDPOINTS:
        concrete = re.sub(r"\{[^}]+\}", "x1", e.path)
        found, _params, _ = match_endpoint(app, e.method, concrete)
        assert found == e, e.path
    for path in ("/api/batches/x1/files", "/api/batches/x1/files/a/b", "/api/batchesX"):
        assert match_endpoint(app, "GET", path)[0] is None
        assert match_endpoint(app, "PUT", path)[0] is None
    assert match_endpoint(app, "DELETE", "/api/batches/x1") == (None, {}, True)
