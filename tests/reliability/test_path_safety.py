"""Path traversal: no batch id and no file name ever reads or writes outside the landing
zone and the lake.

Attempts come in through every door: batch folders and journal lines the landing sensor
sees (local and S3), raw S3 keys with ``..``, ``.``, empty and backslash segments inside a
batch, ``aerofs ingest --batch``, and runs launched through the Dagster API for a partition
key that is not a batch id. Each is refused with a reason, and listings of the whole
bucket / folder tree before and after show nothing was written outside the lake layout.

The gateway's permission matrix (who may launch, add partitions, ...) is
``tests/gateway/auth/test_permission_matrix.py``, run by ``make test`` in CI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import pytest
from dagster._core.errors import DagsterUnknownPartitionError

from aerofs_pipelines.defs.sensors import SensorTuning, build_landing_sensor
from aerofs_pipelines.lake.storage import UnsafePathError, safe_key
from aerofs_pipelines.landing.batches import is_valid_batch_id
from aerofs_pipelines.landing.scan import RESERVED_DIR
from tests.support.bad_corpus import BAD_BATCH_IDS
from tests.support.pipeline import Daemon, land, launch, product_defs, product_instance, tick

REPO = Path(__file__).resolve().parents[2]
SECRET = b"TOP-SECRET-OUTSIDE-THE-LANDING-ZONE"
LAKE_LAYOUT = re.compile(
    r"^(manifests/[^/]+\.json"
    r"|(unregistered/)?tables/[^/]+/batch=[^/]+/.+\.parquet"
    r"|tables/[^/]+/metadata/[^/]+\.(json|avro)"
    r"|(unregistered/)?rejects/[^/]+/batch=[^/]+/.+\.rejects\.parquet"
    r"|text_stats/batch=[^/]+/.+\.json"
    r"|_dagster/.+/[^/]+\.parquet"
    r"|catalog/[^/]+\.(json|parquet))$"
)
"""The lake layout of docs/design.md, plus the IO manager's ``_dagster/`` values and the catalog."""


def tree(root: Path) -> dict[str, bytes]:
    """Every file and link under ``root`` with its content (or link target)."""
    out: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            path = Path(dirpath) / name
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[key] = b"-> " + os.readlink(path).encode()
            elif path.is_file():
                out[key] = path.read_bytes()
    return out


def folder_name_possible(name: str) -> bool:
    """Can ``name`` be one folder's name on this filesystem?"""
    return name not in ("", ".", "..") and "/" not in name and "\x00" not in name


# --------------------------------------------------------------------------- the sensor


def test_sensor_refuses_bad_batch_folders_and_links(
    tmp_path: Path, instance: dg.DagsterInstance, capfd: pytest.CaptureFixture[str]
) -> None:
    root, outside = tmp_path / "landing", tmp_path / "outside"
    land(root, "ok-1")
    # (``_aerofs`` is the sensor's own folder: not a batch, never listed)
    folders = [b for b in BAD_BATCH_IDS if folder_name_possible(b) and b != RESERVED_DIR]
    for bad in folders:
        land(root, bad)
    # a batch folder that is a symbolic link to a complete "batch" outside the landing zone
    land(outside, "b")
    (outside / "b" / "secret.csv").write_bytes(SECRET)
    os.symlink(outside / "b", root / "linked")
    before = {**tree(root), **{f"outside/{k}": v for k, v in tree(outside).items()}}

    sensor = build_landing_sensor(
        landing=str(root), tuning=SensorTuning(sweep_interval=0, sweep_page=6)
    )
    daemon = Daemon(instance, sensor)
    for _ in range(12):  # enough ticks to page through every folder (<= 6 refusals a tick)
        daemon.tick()
    assert daemon.requested == ["ok-1"]
    assert instance.get_dynamic_partitions("batches") == ["ok-1"]

    logged = capfd.readouterr().err
    for bad in folders:
        assert f"refused landing entry {bad!r}: invalid batch id" in logged, bad
    assert "refused landing entry 'linked': a symbolic link to a folder" in logged
    after = {**tree(root), **{f"outside/{k}": v for k, v in tree(outside).items()}}
    assert after == before, "the sensor wrote or moved something"


def test_sensor_refuses_bad_batch_ids_from_the_journal(
    tmp_path: Path, instance: dg.DagsterInstance, capfd: pytest.CaptureFixture[str]
) -> None:
    """Journal lines are written by ``aerofs ingest`` (which refuses bad ids) -- or by
    anyone with write access: each bad one is refused and never joined to a path."""
    root = tmp_path / "landing"
    land(root, "ok-2")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "_SUCCESS").write_text("")  # what "../x" would reach
    lines = [b for b in BAD_BATCH_IDS if "\n" not in b and b == b.strip()]
    journal = root / "_aerofs" / "events"
    journal.mkdir(parents=True)
    sensor = build_landing_sensor(landing=str(root), tuning=SensorTuning(sweep_interval=3600))
    daemon = Daemon(instance, sensor)
    # a tick logs its first 20 refusals one by one (then a count): land them 8 at a time
    for i in range(0, len(lines), 8):
        with open(journal / "20240101.log", "ab") as fh:
            fh.write("".join(f"{b}\n" for b in lines[i : i + 8]).encode())
        daemon.tick()
    with open(journal / "20240101.log", "ab") as fh:
        fh.write(b"ok-2\n")
    daemon.tick()
    assert daemon.requested == ["ok-2"]
    logged = capfd.readouterr().err
    for bad in lines:
        assert f"refused landing entry {bad!r}: invalid batch id" in logged, bad


def test_every_bad_id_is_invalid() -> None:
    assert not [b for b in BAD_BATCH_IDS if is_valid_batch_id(b)]


# --------------------------------------------------------------------------- S3 keys

TRAVERSAL_KEYS = {
    "b1/../../evil.csv": "parent segments out of the batch and the landing prefix",
    "b1/../b2/z.csv": "into another batch",
    "b1//x.csv": "an empty segment",
    "b1/./x.csv": "a '.' segment",
    "b1/a\\..\\x.csv": "backslashes (a Windows-style traversal)",
    "b1/..": "a key that is just '..'",
    "b1/sub/../../../evil.txt": "a text file climbing out",
}
BAD_PREFIXES = ["..", ".", "", "sp ace", "東京", "%2e%2e", "a\\b"]


def bucket_state(s3: Any, bucket: str) -> dict[str, str]:
    """Every key of the bucket and its ETag."""
    out: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj["ETag"]
    return out


def test_s3_traversal_keys_never_leave_the_landing_zone_or_lake(
    s3_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    bucket = s3_env
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])

    def put(key: str, body: bytes) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    # what a traversal would reach: the bucket root, another prefix, the lake's own prefix
    for key in ("evil.csv", "evil.txt", "secret/evil.csv", "landing/b2/z.csv", "x.csv"):
        put(key, b"a,b\n" + SECRET + b",1\n")
    put("landing/b1/good.csv", b"a,b\n1,2\n3,4\n")
    put("landing/b1/notes.txt", b"some words here\n")
    put("landing/b1/%2e%2e/y.csv", b"a\n1\n")  # a literal name in S3: no traversal
    for key in TRAVERSAL_KEYS:
        put(f"landing/{key}", b"a,b\n" + SECRET + b",2\n")
    for prefix in BAD_PREFIXES:
        put(f"landing/{prefix}/data.csv", b"a,b\n" + SECRET + b",3\n")
        put(f"landing/{prefix}/_SUCCESS", b"")
    put("landing/b1/_SUCCESS", b"")
    listed = bucket_state(s3, bucket)
    assert "landing/b1/../../evil.csv" in listed and "landing/b1//x.csv" in listed  # raw keys

    for name in ("DAGSTER_PG_HOST", "AEROFS_PG_URL", "AEROFS_DATASETS", "AEROFS_LANDING_QUEUE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AEROFS_SWEEP_INTERVAL", "0")  # no SQS queue: list every tick
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AEROFS_LANDING", f"s3://{bucket}/landing")
    monkeypatch.setenv("AEROFS_LAKE", f"s3://{bucket}/lake")
    before = bucket_state(s3, bucket)
    instance = product_instance(tmp_path / "home")
    try:
        defs = product_defs()
        requests, added, _ = tick(defs, instance, None)
        assert added == ["b1"] and [r.partition_key for r in requests] == ["b1"]
        logged = capfd.readouterr().err
        for prefix in BAD_PREFIXES:
            assert f"refused landing entry {prefix!r}: invalid batch id" in logged, prefix
        result = launch(defs, instance, requests[0])
        assert result.success
    finally:
        instance.dispose()

    after = bucket_state(s3, bucket)
    outside_lake = {k: v for k, v in after.items() if not k.startswith("lake/")}
    assert outside_lake == before, "something outside the lake was written or removed"
    new = sorted(set(after) - set(before))
    assert new and all(k.startswith("lake/") for k in new)
    for key in new:
        rel = key.removeprefix("lake/")
        assert safe_key(rel) == rel  # no '', '.', '..' segments, no backslash
        assert LAKE_LAYOUT.match(rel), f"outside the documented layout: {key}"
    for key in new:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert SECRET not in body, f"{key} holds data from a traversal target"

    manifest = json.loads(s3.get_object(Bucket=bucket, Key="lake/manifests/b1.json")["Body"].read())
    files = {f["name"]: f for f in manifest["files"]}
    for key, what in TRAVERSAL_KEYS.items():
        name = key.removeprefix("b1/")
        entry = files[name]
        assert entry["status"] == "quarantined", (what, entry)
        assert entry["reason"].startswith(f"{name}: unsafe key"), (what, entry["reason"])
        assert entry["digest"] is None and entry["output"] is None  # never read
    for name in ("good.csv", "notes.txt", "%2e%2e/y.csv"):
        assert files[name]["status"] == "processed", files[name]
    # literal, inside the lake
    assert files["%2e%2e/y.csv"]["output"].startswith("unregistered/tables/y/batch=b1/%2e%2e/y.")
    assert f"lake/{files['%2e%2e/y.csv']['output']}" in new


def test_safe_key_refuses_every_traversal_form() -> None:
    for key in [*TRAVERSAL_KEYS, "/abs", "a/../../b", "a\x00b", "..", "./a", "a/"[:0]]:
        with pytest.raises(UnsafePathError):
            safe_key(key)


# --------------------------------------------------------------------------- ingest CLI

CLI_IDS = ["../x", "..", "a/b", "/abs", "/etc/passwd", "a\\b", "%2e%2e", "sp ace", "東京", ""]


def test_ingest_cli_refuses_bad_batch_ids(tmp_path: Path) -> None:
    src = tmp_path / "src.csv"
    src.write_text("a\n1\n")
    landing = tmp_path / "zone" / "landing"
    landing.mkdir(parents=True)
    aerofs = str(Path(sys.executable).with_name("aerofs"))
    for bad in CLI_IDS:
        proc = subprocess.run(
            [aerofs, "ingest", str(src), "--batch", bad, "--landing", str(landing)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode != 0, bad
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("aerofs: error: invalid batch id"), (
            bad,
            proc.stderr,
        )
        assert "Traceback" not in proc.stderr
    assert tree(tmp_path / "zone") == {}, "a refused ingest wrote something"


# --------------------------------------------------------------------------- Dagster API


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    for name in ("AEROFS_PG_URL", "DAGSTER_PG_HOST", "AEROFS_DATASETS", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    paths = {
        "home": tmp_path / "home",
        "landing": tmp_path / "zone" / "landing",
        "lake": tmp_path / "zone" / "lake",
    }
    monkeypatch.setenv("DAGSTER_HOME", str(paths["home"]))
    monkeypatch.setenv("AEROFS_LANDING", str(paths["landing"]))
    monkeypatch.setenv("AEROFS_LAKE", str(paths["lake"]))
    # what "../x" or an absolute key would reach: a complete batch beside the landing zone
    land(tmp_path / "zone", "x")
    (tmp_path / "zone" / "x" / "secret.csv").write_bytes(b"a\n" + SECRET + b"\n")
    return paths


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/abs", "%2e%2e", "sp ace"])
def test_run_for_a_partition_key_that_is_no_batch_id_fails_cleanly(
    local_env: dict[str, Path], tmp_path: Path, key: str
) -> None:
    """A key registered by hand (editor role: ``addDynamicPartition``) and launched: the
    first step refuses it before building any path, without retries; nothing is written."""
    zone = tmp_path / "zone"
    before = tree(zone)
    instance = product_instance(local_env["home"])
    try:
        instance.add_dynamic_partitions("batches", [key])  # Dagster accepts any string
        job = product_defs().resolve_job_def("process_batch")
        result = job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False)
        assert not result.success
        failures = [
            e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE
        ]
        assert [e.step_key for e in failures] == ["batch_manifest"]
        message = str(failures[0].event_specific_data.error.message)  # type: ignore[union-attr]
        assert f"invalid batch id {key!r}" in message
        retried = [
            e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
        ]
        assert retried == []  # a bad id is not transient
    finally:
        instance.dispose()
    assert tree(zone) == before, "a refused run wrote something"


def test_unregistered_partition_key_is_refused_before_the_run(local_env: dict[str, Path]) -> None:
    instance = product_instance(local_env["home"])
    try:
        job = product_defs().resolve_job_def("process_batch")
        with pytest.raises(DagsterUnknownPartitionError, match="Could not find a partition"):
            job.execute_in_process(instance=instance, partition_key="../x")
        assert instance.get_runs() == [] or all(
            r.status != dg.DagsterRunStatus.SUCCESS for r in instance.get_runs()
        )
    finally:
        instance.dispose()
    assert not local_env["lake"].exists()
