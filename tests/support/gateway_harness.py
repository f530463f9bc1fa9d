"""The gateway under test: real webserver app, real SQLite instance and store.

``gateway_harness()`` builds, in a temporary ``DAGSTER_HOME``: a Dagster instance
(SQLite; queued run coordinator, so launched runs stay queued and nothing executes),
the test definitions below loaded in-process as code location ``gateway_test``, the
gateway store (SQLite) with one user and one API token per role, and the gateway app.
Test modules expose it as a fixture; ``Harness.client(role, via)`` gives a Starlette
``TestClient`` logged in by session (through ``POST /auth/login``) or bearer token.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster._core.instance import DagsterInstance
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

from aerofs_pipelines.gateway.app import Gateway, GatewayConfig, create_app
from aerofs_pipelines.gateway.auth.dagster_context import GatewayProcessContext
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.passwords import Hasher
from aerofs_pipelines.gateway.identity.ratelimit import RateLimitPolicy
from aerofs_pipelines.gateway.store import GatewayStore

if TYPE_CHECKING:
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
LOCATION = "gateway_test"
ORIGIN = "http://testserver"
SECRET_KEY = "gateway-tests-secret-key-0123456789abcdef"

# ----------------------------------------------------------------- test definitions

letters = dg.StaticPartitionsDefinition(["a", "b", "c"])
batches = dg.DynamicPartitionsDefinition(name="batches")


@dg.asset(partitions_def=letters)
def lettered() -> None:
    return None


@dg.asset(partitions_def=batches)
def batched() -> None:
    return None


@dg.asset
def plain() -> int:
    return 1


lettered_job = dg.define_asset_job("lettered_job", selection=[lettered], partitions_def=letters)
plain_job = dg.define_asset_job("plain_job", selection=[plain])


@dg.schedule(job=plain_job, cron_schedule="0 0 * * *")
def nightly() -> dg.RunRequest:
    return dg.RunRequest()


@dg.sensor(job=plain_job)
def watcher() -> dg.SkipReason:
    return dg.SkipReason("nothing to do")


defs = dg.Definitions(
    assets=[lettered, batched, plain],
    jobs=[lettered_job, plain_job],
    schedules=[nightly],
    sensors=[watcher],
)

# ----------------------------------------------------------------- harness

DAGSTER_YAML = """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
telemetry:
  enabled: false
"""


def password(role: Role) -> str:
    return f"password-of-{role.name}-0"


@dataclass
class Harness:
    app: Gateway
    instance: DagsterInstance
    store: GatewayStore
    process_context: GatewayProcessContext
    tokens: dict[Role, str] = field(default_factory=dict)

    def client(self, role: Role | None = None, via: str = "session", **kw: Any) -> TestClient:
        """A client as ``role`` (None: anonymous) by ``session`` or ``token``."""
        from starlette.testclient import TestClient

        client = TestClient(self.app, base_url=ORIGIN, follow_redirects=False, **kw)
        if role is None:
            return client
        if via == "token":
            client.headers["authorization"] = f"Bearer {self.tokens[role]}"
            return client
        response = client.post(
            "/auth/login",
            json={"username": role.name, "password": password(role)},
            headers={"origin": ORIGIN},
        )
        assert response.status_code == 200, response.text
        client.headers["origin"] = ORIGIN
        return client

    def graphql(
        self, client: TestClient, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> Any:
        return client.post("/graphql", json={"query": query, "variables": variables or {}}, **kw)


@contextmanager
def gateway_harness(tmp: Path) -> Iterator[Harness]:
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    saved = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with ExitStack() as stack:
            instance = stack.enter_context(DagsterInstance.get())
            origin = InProcessCodeLocationOrigin(
                LoadableTargetOrigin(
                    module_name="tests.support.gateway_harness",
                    attribute="defs",
                    working_directory=str(ROOT),
                ),
                location_name=LOCATION,
            )
            process_context = stack.enter_context(
                GatewayProcessContext(instance, InProcessWorkspaceLoadTarget(origin))
            )
            policy = RateLimitPolicy(
                user_free_failures=1000, address_max_failures=10_000, base_lockout=timedelta(0)
            )
            store = GatewayStore(
                f"sqlite:///{tmp / 'gateway.db'}",
                hasher=Hasher.fast(),
                secret_key=SECRET_KEY,
                policy=policy,
            )
            stack.callback(store.dispose)
            store.migrate()
            harness = Harness(
                app=create_app(process_context, store, GatewayConfig(max_body_bytes=256 * 1024)),
                instance=instance,
                store=store,
                process_context=process_context,
            )
            for role in Role:
                store.users.add(role.name, role, password(role))
                _, secret = store.tokens.create(role.name, name=f"{role.name}-token")
                harness.tokens[role] = secret
            yield harness
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved
