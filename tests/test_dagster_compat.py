"""One test per shim of ``aerofs_pipelines._dagster_compat``: each fails naming its shim
when a Dagster upgrade changes what the shim relies on. Start an upgrade here.

Also the rule the module exists for: no other module of the package imports ``dagster._*``.
"""

import importlib.util
import inspect
import re
from pathlib import Path

import dagster as dg
import pytest
from dagster import AssetExecutionContext

from aerofs_pipelines import _dagster_compat as compat
from aerofs_pipelines.gateway.auth.policy import PERMISSION_LEAST_ROLE

PACKAGE = Path(compat.__file__).parent
PRIVATE_IMPORT = re.compile(r"\bdagster\._")


def test_only_the_compat_module_touches_dagster_internals() -> None:
    users = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if PRIVATE_IMPORT.search(p.read_text(encoding="utf-8"))
    )
    assert users == ["_dagster_compat.py"]


def test_shim_permissions() -> None:
    names = {p.value for p in compat.Permissions}
    assert names == set(PERMISSION_LEAST_ROLE), (
        "shim Permissions: Dagster's permission names changed; place the new ones in "
        "gateway/auth/policy.py's roles table"
    )
    assert set(compat.LOCATION_SCOPED_PERMISSIONS) <= set(compat.Permissions), (
        "shim LOCATION_SCOPED_PERMISSIONS: no longer a subset of Permissions"
    )
    result = compat.PermissionResult(enabled=False, disabled_reason="why")
    assert (result.enabled, result.disabled_reason) == (False, "why"), "shim PermissionResult"


def test_shim_workspace_contexts() -> None:
    create = inspect.signature(compat.WorkspaceProcessContext.create_request_context)
    assert "source" in create.parameters, (
        "shim WorkspaceProcessContext: create_request_context(source) is where the gateway "
        "hands Dagster the caller's permissions"
    )
    init = inspect.signature(compat.WorkspaceRequestContext.__init__).parameters
    wanted = {"instance", "current_workspace", "process_context", "version", "source", "read_only"}
    assert wanted <= set(init), f"shim WorkspaceRequestContext: __init__ lost {wanted - set(init)}"
    for name in ("permissions", "permissions_for_location"):
        assert hasattr(compat.WorkspaceRequestContext, name), f"shim WorkspaceRequestContext.{name}"


def test_shim_load_target(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text("load_from: []\n")
    file_target = compat.load_target(str(workspace), "m", "defs")
    module_target = compat.load_target(None, "aerofs_pipelines.definitions", "defs")
    assert isinstance(file_target, compat.WorkspaceLoadTarget), "shim load_target (file)"
    assert isinstance(module_target, compat.WorkspaceLoadTarget), "shim load_target (module)"
    assert module_target.module_name == "aerofs_pipelines.definitions"  # type: ignore[attr-defined]


def test_shim_daemon_module() -> None:
    assert importlib.util.find_spec(f"{compat.DAEMON_MODULE}.__main__") is not None, (
        "shim DAEMON_MODULE: `python -m dagster._daemon` is gone"
    )


letters = dg.StaticPartitionsDefinition(["a", "b", "c"])


@dg.asset(partitions_def=letters)
def lettered(context: AssetExecutionContext) -> None:
    for key in context.partition_keys:
        assert compat.add_partition_metadata(context, {"letter": key}, key), (
            "shim add_partition_metadata: the step's metadata accumulator is gone"
        )


def test_shim_add_partition_metadata(tmp_path: Path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize(
            [lettered],
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "a",
                "dagster/asset_partition_range_end": "c",
            },
        )
        assert result.success
        found = {
            m.partition: m.metadata["letter"].value
            for m in result.asset_materializations_for_node("lettered")
        }
    assert found == {"a": "a", "b": "b", "c": "c"}, (
        "shim add_partition_metadata: metadata no longer reaches each partition's event"
    )


def test_shim_backfills(tmp_path: Path) -> None:
    dynamic = dg.DynamicPartitionsDefinition(name="things")

    @dg.asset(partitions_def=dynamic)
    def thing() -> None:
        return None

    defs = dg.Definitions(assets=[thing])
    repository = defs.get_repository_def()
    request = compat.backfill_run_request([thing.key], dynamic, ["x", "y"], {"t": "1"})
    assert request.requires_backfill_daemon(), "shim backfill_run_request: not a backfill"
    subset = request.asset_graph_subset
    assert subset is not None and set(
        subset.partitions_subsets_by_asset_key[thing.key].get_partition_keys()
    ) == {"x", "y"}, "shim backfill_run_request: the partitions are not in the request"
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions("things", ["x", "y"])
        compat.add_asset_backfill(
            instance,
            repository,
            backfill_id="compat-1",
            asset_keys=[thing.key],
            partition_keys=["x", "y"],
            tags={"aerofs/test": "yes"},
            title="t",
            description="d",
            run_config=None,
            created_at=0.0,
        )
        backfill = instance.get_backfill("compat-1")
        assert backfill is not None, "shim add_asset_backfill: nothing stored"
        targets = {
            (p.asset_key, p.partition_key)
            for p in backfill.asset_backfill_data.target_subset.iterate_asset_partitions()
        }
        assert targets == {(thing.key, "x"), (thing.key, "y")}, (
            "shim add_asset_backfill: the backfill targets other partitions"
        )
        assert compat.backfill_ids_tagged(instance, {"aerofs/test": "yes"}) == ["compat-1"], (
            "shim backfill_ids_tagged"
        )
        assert compat.backfill_ids_tagged(instance, {"aerofs/test": "no"}) == []


@pytest.mark.parametrize(
    ("key", "path"),
    [("../up", "%2E%2E/up"), ("/abs", "%2Fabs"), ("a..b", "a..b"), ("batch-1", "batch-1")],
)
def test_shim_escape_partition_path(key: str, path: str) -> None:
    assert compat.escape_partition_path(key) == path, "shim escape_partition_path"


def test_shim_instance_plugins(tmp_path: Path) -> None:
    storage = compat.sqlite_storage(str(tmp_path), None)
    assert isinstance(storage, compat.DagsterStorage), "shim sqlite_storage"
    assert issubclass(compat.LocalComputeLogManager, compat.ConfigurableClass), (
        "shim LocalComputeLogManager: no longer a ConfigurableClass"
    )
    data = compat.ConfigurableClassData("m", "C", "{}")
    assert (data.module_name, data.class_name) == ("m", "C"), "shim ConfigurableClassData"


@dg.op
def refuses() -> None:
    raise ValueError("no")


@dg.job(executor_def=dg.in_process_executor)
def failing() -> None:
    refuses()


def test_shim_run_will_retry(tmp_path: Path) -> None:
    retries = {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": True}
    with dg.instance_for_test(temp_dir=str(tmp_path)) as plain:  # run retries off: no tag
        untagged = failing.execute_in_process(instance=plain, raise_on_error=False).run_id
        run = plain.get_run_by_id(untagged)
        assert run is not None and "dagster/will_retry" not in run.tags
        assert not compat.run_will_retry(plain, run), "shim run_will_retry: retries are off"
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides={"run_retries": retries}) as on:
        run = on.get_run_by_id(untagged)
        assert run is not None
        assert compat.run_will_retry(on, run), "shim run_will_retry: Dagster's rule for no tag"
        run_id = failing.execute_in_process(instance=on, raise_on_error=False).run_id
        run = on.get_run_by_id(run_id)
        assert run is not None and run.tags.get("dagster/will_retry") == "true", (
            "shim run_will_retry: the instance no longer tags a failed run dagster/will_retry"
        )
        assert compat.run_will_retry(on, run)
        on.add_run_tags(run_id, {"dagster/will_retry": "false"})
        assert not compat.run_will_retry(on, run), "shim run_will_retry: reads the tag again"
        on.add_run_tags(run_id, {"dagster/will_retry": "true", "dagster/backfill": "gone"})
        assert not compat.run_will_retry(on, run), "shim run_will_retry: a backfill that is gone"
    retried = dg.DagsterRun(job_name="failing", tags={"dagster/retry_number": "2"})
    assert compat.run_retry_number(retried) == 2, "shim run_retry_number"
    assert compat.run_retry_number(dg.DagsterRun(job_name="failing")) == 0


def test_shim_failing_freshness(tmp_path: Path) -> None:
    from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

    key, other = dg.AssetKey(["lake", "a"]), dg.AssetKey(["lake", "b"])
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert compat.failing_freshness(instance, [key, other]) == {}
        for asset, state, at in (
            (key, "FAIL", 1000.0),
            (other, "FAIL", 1000.0),
            (other, "PASS", 1001.0),
        ):
            instance._report_runless_asset_event(  # as Dagster's freshness daemon reports
                FreshnessStateChange(
                    key=asset,
                    new_state=FreshnessState(state),
                    previous_state=FreshnessState.UNKNOWN,
                    state_change_timestamp=at,
                )
            )
        failing = compat.failing_freshness(instance, [key, other])
        assert list(failing) == [key], "shim failing_freshness: the latest state of each asset"
        assert failing[key] > 0


def test_shim_instigator_ticks(tmp_path: Path) -> None:
    """Covered end to end by tests/defs/test_alerts.py (real sensor daemon ticks); here
    only that a fresh instance has no ticks and the shim's fields exist."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert compat.instigator_ticks(instance, after=0.0) == []
    fields = set(compat.InstigatorTicks.__dataclass_fields__)
    assert fields == {"name", "kind", "location", "ticks"}, "shim instigator_ticks"
