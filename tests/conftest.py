"""Shared fixtures: ``s3_endpoint`` (a moto S3 server, one per session) and ``s3_env``
(a fresh bucket on it, the AWS variables pointing there), ``pg_url`` (a fresh PostgreSQL
database per test), ``instance`` and ``synchronous_instance`` (temporary Dagster
instances), ``embedded`` (the product's instance on the embedded defaults), ``lake`` (the
lake and its SQLite table catalog in a temporary folder)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import pytest

from tests.support.pipeline import product_instance
from tests.support.services import moto_server, postgres_database


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Endpoint URL of a moto S3 server on loopback (credentials: any; region us-east-1)."""
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database (dropped after the test)."""
    with postgres_database() as url:
        yield url


def _temp_instance(tmp_path: Path, *, synchronous: bool) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(
        temp_dir=str(home),
        synchronous_run_coordinator=synchronous,
        synchronous_run_launcher=synchronous,
    ) as inst:
        yield inst


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance (SQLite) in a temporary folder."""
    yield from _temp_instance(tmp_path, synchronous=False)


@pytest.fixture
def synchronous_instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """The same, launching requested runs at once, in this process (sensor/backfill tests)."""
    yield from _temp_instance(tmp_path, synchronous=True)


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the moto server, with the AWS variables pointing at it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    bucket = f"aerofs-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    return bucket


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path/lake``, the lake; its Iceberg catalog is ``tmp_path/home/lake/catalog.db``."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AEROFS_LAKE", str(tmp_path / "lake"))
    for name in ("AEROFS_LAKE_CATALOG_URL", "AEROFS_PG_URL", "DAGSTER_PG_HOST"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "lake"


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    for name in (
        "AEROFS_PG_URL",
        "DAGSTER_PG_HOST",
        "AEROFS_DATASETS",
        "AWS_ENDPOINT_URL",
        "AEROFS_LAKE_CATALOG_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AEROFS_LANDING", str(tmp_path / "landing"))
    monkeypatch.setenv("AEROFS_LAKE", str(tmp_path / "lake"))
    instance = product_instance(tmp_path / "home")
    try:
        yield instance
    finally:
        instance.dispose()
