"""The lake as tables, end to end through ``aerofs serve`` (issue 13).

The real platform, as a user runs it: ``aerofs serve`` (gateway + Dagster webserver app +
daemon) on the product's own code location and ``dagster.yaml`` (polling shortened), a
dataset registry of two datasets (``AEROFS_DATASETS``): ``orders`` (declared columns,
``strict: false``, ``on_schema_change: evolve``) and ``customers``. Two batches land with
``aerofs ingest``, one after the other; the daemon's landing sensor registers and runs
each. The second batch's orders bring a column the first had not (``channel``).

Then the tables are read back, in this process, with pyiceberg
(:func:`aerofs_pipelines.lake.open_catalog`, the server's settings) and polars
(``pl.scan_iceberg``): exactly the input rows, each with its ``batch_id``, ``channel``
null in the first batch's rows, one snapshot per batch naming it. A re-run of the first
batch, launched as ``docs/api.md`` shows (``process_batch`` with the batch's
``dagster/partition`` tag through the gateway's GraphQL, an admin token), leaves every
table as it was: same rows, the batch's rows once, no new snapshot.

Once on the embedded default (SQLite instance under a temporary ``DAGSTER_HOME``, the
catalog in ``$DAGSTER_HOME/lake/catalog.db``, landing and lake local folders), once on
PostgreSQL instance storage (the catalog in the database's ``aerofs_lake`` schema) with
the landing zone and the lake on S3 (moto server). Both fail loudly, never skip.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa
from dagster_graphql import DagsterGraphQLClient
from pyiceberg.table import Table

from aerofs_pipelines.batch.validation import manifest_files
from aerofs_pipelines.lake import open_catalog
from aerofs_pipelines.lake.iceberg import BATCH_PROPERTY
from aerofs_pipelines.lake.storage import open_storage
from tests.support.live_server import LOCATION, LiveServer, product_server
from tests.support.processes import wait_until

pytestmark = [
    # dagster-graphql 1.13 calls gql's execute() the old way
    pytest.mark.filterwarnings("ignore:Using variable_values:DeprecationWarning"),
    # polars plans the scan with pyiceberg (no polars_iceberg package): slower, same rows
    pytest.mark.filterwarnings("ignore:Iceberg scan planning with the polars_iceberg plugin"),
]

REGISTRY = """\
datasets:
  orders:
    description: Orders; batches may bring columns of their own.
    patterns: ["orders*.csv"]
    strict: false
    on_schema_change: evolve
    columns:
      order_id: {type: int64, nullable: false, unique: true, checks: {ge: 1}}
      customer: {type: string, nullable: false}
      amount: {type: float64}
  customers:
    description: Customers.
    patterns: ["customers*.csv"]
    columns:
      customer_id: {type: int64, nullable: false, unique: true}
      name: {type: string}
"""

B1, B2 = "lake-2026-12-01", "lake-2026-12-02"
FILES: dict[str, dict[str, str]] = {
    B1: {
        "orders.csv": "order_id,customer,amount\n1,Acme,10.5\n2,Zoë Ångström,7.25\n3,Acme,\n",
        "customers.csv": "customer_id,name\n1,Acme\n2,Zoë Ångström\n",
    },
    B2: {  # orders bring a new column
        "orders.csv": "order_id,customer,amount,channel\n4,Smith,3.0,web\n5,Acme,99.5,shop\n",
        "customers.csv": "customer_id,name\n3,Smith\n",
    },
}
EXPECTED: dict[str, list[dict[str, Any]]] = {
    "orders": [
        {"order_id": 1, "customer": "Acme", "amount": 10.5, "batch_id": B1, "channel": None},
        {
            "order_id": 2,
            "customer": "Zoë Ångström",
            "amount": 7.25,
            "batch_id": B1,
            "channel": None,
        },
        {"order_id": 3, "customer": "Acme", "amount": None, "batch_id": B1, "channel": None},
        {"order_id": 4, "customer": "Smith", "amount": 3.0, "batch_id": B2, "channel": "web"},
        {"order_id": 5, "customer": "Acme", "amount": 99.5, "batch_id": B2, "channel": "shop"},
    ],
    "customers": [
        {"customer_id": 1, "name": "Acme", "batch_id": B1},
        {"customer_id": 2, "name": "Zoë Ångström", "batch_id": B1},
        {"customer_id": 3, "name": "Smith", "batch_id": B2},
    ],
}
COLUMNS = {
    "orders": ["order_id", "customer", "amount", "batch_id", "channel"],
    "customers": ["customer_id", "name", "batch_id"],
}
KEY = {"orders": "order_id", "customers": "customer_id"}
RUN_TIMEOUT = 150.0  # a sensor tick (10 s) + a run worker on a busy 2-core machine
FINISHED = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}


@dataclass
class Platform:
    """A running ``aerofs serve`` and this process's view of its instance."""

    server: LiveServer
    instance: dg.DagsterInstance
    lake: str
    """The lake's URL (folder or ``s3://bucket/prefix``)."""

    def describe(self, run: dg.DagsterRun) -> str:
        """A run's status, step failures and last events, for failure messages."""
        lines = [f"run {run.run_id} ({run.job_name}) {run.status.value} tags={dict(run.tags)}"]
        for record in self.instance.all_logs(run.run_id):
            event = record.dagster_event
            if event is not None and event.is_step_failure:
                error = event.step_failure_data.error
                lines.append(
                    f"  step failure {record.step_key}: {error.to_string() if error else ''}"
                )
        lines += [
            f"  {r.dagster_event_type}: {(r.message or '')[:300]}"
            for r in self.instance.all_logs(run.run_id)[-12:]
        ]
        return "\n".join(lines)

    def batch_runs(self, batch_id: str) -> list[dg.DagsterRun]:
        """The runs of ``batch_id``, oldest first."""
        records = self.instance.get_run_records(
            filters=dg.RunsFilter(tags={"dagster/partition": batch_id})
        )
        return [r.dagster_run for r in sorted(records, key=lambda r: r.create_timestamp)]

    def wait_for_runs(self, batch_id: str, count: int) -> list[dg.DagsterRun]:
        """Wait until ``batch_id`` has ``count`` runs, all finished; fail on any that failed."""

        def done() -> list[dg.DagsterRun] | None:
            runs = self.batch_runs(batch_id)
            bad = [r for r in runs if r.status in FINISHED - {dg.DagsterRunStatus.SUCCESS}]
            if bad:
                raise AssertionError(
                    "\n".join(self.describe(r) for r in bad)
                    + f"\n--- aerofs serve log:\n{self.server.log_tail()}"
                )
            if len(runs) >= count and all(r.status in FINISHED for r in runs):
                return runs
            return None

        runs: list[dg.DagsterRun] = wait_until(
            done,
            f"{count} successful run(s) of batch {batch_id}",
            timeout=RUN_TIMEOUT,
            interval=0.5,
            log=self.server.log,
            error=AssertionError,
        )
        return runs

    def assert_processed(self, batch_id: str) -> None:
        """Every file of the batch became a table of its dataset (its manifest says so)."""
        files = manifest_files(open_storage(self.lake), batch_id)
        outcome = {f["name"]: (f["dataset"], f["status"], f["reason"]) for f in files}
        for name, dataset in (("orders.csv", "orders"), ("customers.csv", "customers")):
            assert outcome[name][:2] == (dataset, "processed"), (
                f"{batch_id}/{name}: {outcome[name]}"
            )

    def ingest(self, batch_id: str, src: Path) -> None:
        """``aerofs ingest`` the batch's files, as a user lands a batch."""
        paths = [str(src / name) for name in sorted(FILES[batch_id])]
        out = json.loads(self.server.aerofs("ingest", *paths, "--batch", batch_id, "--json"))
        assert out["batch_id"] == batch_id
        assert sorted(f["name"] for f in out["files"]) == sorted(FILES[batch_id])

    def rerun(self, batch_id: str) -> str:
        """Run the batch again as docs/api.md shows: ``process_batch`` through the gateway's
        GraphQL with an admin token; the run's id once it finished."""
        token = self.server.create_token("admin")
        client = DagsterGraphQLClient(
            "127.0.0.1",
            port_number=self.server.port,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        run_id = client.submit_job_execution(
            "process_batch",
            repository_location_name=LOCATION,
            repository_name="__repository__",
            tags={"dagster/partition": batch_id},
        )
        deadline = time.monotonic() + RUN_TIMEOUT
        while (status := client.get_run_status(run_id)) not in FINISHED:
            assert time.monotonic() < deadline, (
                f"re-run {run_id} of {batch_id} still {status.value} after {RUN_TIMEOUT}s\n"
                f"{self.server.log_tail()}"
            )
            time.sleep(0.5)
        run = self.instance.get_run_by_id(run_id)
        assert run is not None
        assert status == dg.DagsterRunStatus.SUCCESS, self.describe(run)
        return run_id


def write_sources(root: Path) -> dict[str, Path]:
    """Each batch's files in a folder of their own (what a user would ingest)."""
    folders = {}
    for batch_id, files in FILES.items():
        folder = root / batch_id
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        folders[batch_id] = folder
    return folders


@contextmanager
def platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]
) -> Iterator[Platform]:
    """``aerofs serve`` on the product's code location and ``dagster.yaml`` with
    ``settings``; this process gets the same settings (for the catalog and the instance)."""
    for name in (
        "AEROFS_PG_URL",
        "DAGSTER_PG_HOST",
        "AEROFS_LAKE_CATALOG_URL",
        "AEROFS_LANDING_QUEUE",
        "AEROFS_ENV",
    ):
        monkeypatch.delenv(name, raising=False)
    registry = tmp_path / "datasets.yaml"
    registry.write_text(REGISTRY)
    settings = {**settings, "AEROFS_DATASETS": str(registry)}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with product_server(tmp_path, settings) as server:
        monkeypatch.setenv("DAGSTER_HOME", str(server.home))
        instance = dg.DagsterInstance.from_config(str(server.home))
        try:
            yield Platform(server=server, instance=instance, lake=settings["AEROFS_LAKE"])
        finally:
            instance.dispose()


def rows(table: Table) -> list[dict[str, Any]]:
    """The table's rows by pyiceberg, in key order."""
    dataset = table.name()[-1]
    return sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r[KEY[dataset]])


def batches_of(table: Table) -> list[str | None]:
    """The batch each snapshot's summary names, oldest first."""
    return [s.summary[BATCH_PROPERTY] if s.summary else None for s in table.snapshots()]


def assert_tables(lake: str) -> dict[str, Table]:
    """Both tables hold exactly the input rows, read with pyiceberg and with polars."""
    catalog = open_catalog()
    assert sorted(catalog.list_tables("aerofs")) == [("aerofs", "customers"), ("aerofs", "orders")]
    tables = {}
    for dataset, expected in EXPECTED.items():
        table = catalog.load_table(f"aerofs.{dataset}")
        assert table.location() == f"{lake}/tables/{dataset}"
        assert table.metadata_location.startswith(f"{lake}/tables/{dataset}/metadata/")
        assert [f.name for f in table.schema().fields] == COLUMNS[dataset]
        assert rows(table) == expected  # rows, batch ids, nulls for the new column

        frame = pl.scan_iceberg(table).collect()
        assert frame.columns == COLUMNS[dataset]
        assert frame.sort(KEY[dataset]).to_dicts() == expected
        for batch_id in (B1, B2):  # a filter on one batch reads that batch's rows
            one = pl.scan_iceberg(table).filter(pl.col("batch_id") == batch_id).collect()
            assert one.sort(KEY[dataset]).to_dicts() == [
                r for r in expected if r["batch_id"] == batch_id
            ]
        assert batches_of(table) == [B1, B2], "one snapshot per batch, naming it"
        tables[dataset] = table
    old = pl.scan_iceberg(tables["orders"]).filter(pl.col("batch_id") == B1).collect()
    assert old["channel"].null_count() == old.height == 3
    return tables


def lake_metadata(p: Platform, dataset: str, batch_id: str) -> list[dict[str, Any]]:
    """The metadata of each materialization of ``lake/<dataset>`` for the batch, newest first."""
    records = p.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(["lake", dataset]), asset_partitions=[batch_id]
        ),
        limit=10,
    ).records
    found = []
    for record in records:
        mat = record.asset_materialization
        assert mat is not None
        found.append({k: v.value for k, v in mat.metadata.items()})
    return found


def run_scenario(p: Platform, tmp_path: Path) -> None:
    src = write_sources(tmp_path / "src")

    # Batch 1, then batch 2 once batch 1 is in: the sensor runs each (one run per batch).
    p.ingest(B1, src[B1])
    (first,) = p.wait_for_runs(B1, 1)
    assert first.tags.get("dagster/sensor_name") == "landing_sensor", first.tags
    p.assert_processed(B1)
    p.ingest(B2, src[B2])
    (second,) = p.wait_for_runs(B2, 1)
    assert second.tags.get("dagster/sensor_name") == "landing_sensor", second.tags
    # strict: false, so the new column is welcome (the packaged datasets.yaml: "strict: true =
    # no columns besides those listed")
    p.assert_processed(B2)

    tables = assert_tables(p.lake)
    snapshots = {d: [s.snapshot_id for s in t.snapshots()] for d, t in tables.items()}

    # Re-running batch 1 (same inputs) leaves every table as it was: rows once, no commit.
    rerun_id = p.rerun(B1)
    assert [r.run_id for r in p.batch_runs(B1)] == [first.run_id, rerun_id]
    catalog = open_catalog()
    for dataset, expected in EXPECTED.items():
        table = catalog.load_table(f"aerofs.{dataset}")
        assert rows(table) == expected
        frame = pl.scan_iceberg(table).collect()
        assert frame.height == len(expected)
        assert frame.filter(pl.col("batch_id") == B1).height == sum(
            r["batch_id"] == B1 for r in expected
        )
        assert [s.snapshot_id for s in table.snapshots()] == snapshots[dataset]
        assert batches_of(table) == [B1, B2]

    # what the lake steps recorded: batch 2 added the column; the re-run committed nothing
    assert lake_metadata(p, "orders", B2)[0]["added_columns"] == "channel"
    for dataset, expected in EXPECTED.items():
        (rerun_md, first_md) = lake_metadata(p, dataset, B1)
        b1_rows = sum(r["batch_id"] == B1 for r in expected)
        assert rerun_md["dagster/row_count"] == first_md["dagster/row_count"] == b1_rows
        assert rerun_md["table_rows"] == len(expected), rerun_md
        assert "nothing committed" in rerun_md["note"], rerun_md
        assert rerun_md["snapshot_id"] == first_md["snapshot_id"] == str(snapshots[dataset][0])


def test_lake_tables_through_serve_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    settings = {"AEROFS_LANDING": str(landing), "AEROFS_LAKE": str(lake)}
    with platform(tmp_path, monkeypatch, settings) as p:
        assert type(p.instance.run_storage).__name__ == "SqliteRunStorage"
        run_scenario(p, tmp_path)
        # the catalog is the instance folder's SQLite file
        assert (p.server.home / "lake" / "catalog.db").is_file()
        assert (lake / "tables" / "orders" / "metadata").is_dir()


def test_lake_tables_through_serve_postgres_and_s3(
    s3_env: str, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {
        "AEROFS_LANDING": f"s3://{s3_env}/landing",
        "AEROFS_LAKE": f"s3://{s3_env}/lake",
        "AEROFS_PG_URL": pg_url,
        "AEROFS_SECRET_KEY": "lake-serve-test-secret-key-0123456789abcdef",
        "AEROFS_SWEEP_INTERVAL": "0",  # no SQS queue: the sensor lists the bucket each tick
    }
    with platform(tmp_path, monkeypatch, settings) as p:
        assert type(p.instance.run_storage).__name__ == "PostgresRunStorage"
        run_scenario(p, tmp_path)
        # the catalog lives in the instance's database, in its own schema; nothing local
        engine = sa.create_engine(pg_url)
        try:
            with engine.connect() as conn:
                listed = conn.execute(
                    sa.text(
                        "SELECT table_namespace, table_name, metadata_location "
                        "FROM aerofs_lake.iceberg_tables ORDER BY table_name"
                    )
                ).all()
        finally:
            engine.dispose()
        assert [(ns, name) for ns, name, _ in listed] == [
            ("aerofs", "customers"),
            ("aerofs", "orders"),
        ]
        assert all(loc.startswith(f"s3://{s3_env}/lake/tables/") for _, _, loc in listed)
        assert not (p.server.home / "lake").exists()
