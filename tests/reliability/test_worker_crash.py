"""kill -9 of the run worker while it writes a large Parquet file into the lake.

Real processes: ``aerofs ingest`` lands a ~250 MB CSV; ``dagster-daemon run`` (the
product's dagster.yaml: run retries on, run monitoring on; SQLite instance in a temp
``DAGSTER_HOME``) has the landing sensor request the run and its code server start the
run worker. When the worker's temporary Parquet file appears in the lake folder, the test
SIGKILLs the worker. The code server sees its run worker die and marks the run failed;
run retries launch a new run from the failed step; it completes.

Afterwards the lake holds exactly one complete copy of every output: the one Parquet
file (no partial file, no temporary file left by the dead worker), with exactly the
input's rows (count, unique ids, content equal to the CSV parsed again), and the
manifest's digest of the input matches the file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from aerofs_pipelines import kernels
from aerofs_pipelines.lake.storage import open_storage
from tests.reliability.bigcsv import write_big_csv
from tests.support.live_daemon import LiveDaemon, live_daemon

AEROFS = str(Path(sys.executable).with_name("aerofs"))
BATCH = "crash-1"
ROWS = 2_500_000  # ~245 MB of CSV, ~170 MB of Parquet


def temp_files(root: Path) -> list[Path]:
    """Every temporary file of an atomic write under ``root``."""
    return sorted(p for p in root.rglob("*") if ".tmp-" in p.name)


def published(folder: Path) -> list[Path]:
    """The published tables in a batch folder (``events.<version>.parquet``)."""
    return sorted(folder.glob("events.*.parquet")) if folder.is_dir() else []


def kill_mid_write(daemon: LiveDaemon, lake: Path, folder: Path) -> tuple[int, Path, int]:
    """SIGKILL the batch's run worker once its temp Parquet file is in the lake folder.

    Returns the pid killed, the temp file seen and its size at that moment.
    """
    runs = daemon.wait_for(f"a run of {BATCH}", lambda: daemon.batch_runs(BATCH), 60)
    run_id = runs[0].run_id
    pid: int = daemon.wait_for("the run worker's pid", lambda: daemon.worker_pid(run_id), 60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if folder.is_dir():
            temps = [p for p in folder.iterdir() if ".tmp-" in p.name]
            if temps:
                size = temps[0].stat().st_size
                os.kill(pid, signal.SIGKILL)
                return pid, temps[0], size
        if published(folder):
            raise AssertionError("the Parquet file was published before the kill could land")
        time.sleep(0.002)
    raise AssertionError(f"no temporary Parquet file appeared in {folder}:\n{daemon.log_tail()}")


@pytest.mark.slow
def test_worker_killed_mid_parquet_write_is_retried_without_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing, lake, scratch = tmp_path / "landing", tmp_path / "lake", tmp_path / "scratch"
    scratch.mkdir()
    for name in ("AEROFS_PG_URL", "DAGSTER_PG_HOST", "AEROFS_DATASETS", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AEROFS_LANDING", str(landing))
    monkeypatch.setenv("AEROFS_LAKE", str(lake))
    src = tmp_path / "src" / "events.csv"
    write_big_csv(src, ROWS)
    subprocess.run([AEROFS, "ingest", str(src), "--batch", BATCH], check=True, timeout=120)
    # no registry pattern claims events.csv: the lake's unregistered area
    folder = lake / "unregistered" / "tables" / "events" / f"batch={BATCH}"

    with live_daemon(tmp_path, env={"TMPDIR": str(scratch)}) as daemon:
        pid, temp, size_at_kill = kill_mid_write(daemon, lake, folder)
        # the worker is gone and nothing was published by it
        daemon.wait_for("the worker to be gone", lambda: not _alive(pid), 10)
        assert published(folder) == []

        done = daemon.final_run(BATCH, timeout=120)
        runs = daemon.batch_runs(BATCH)
        instance = daemon.instance

    # the killed run failed, and exactly one retry of it (run retries) succeeded
    first = runs[0]
    assert first.status == dg.DagsterRunStatus.FAILURE
    messages = [r.message or "" for r in instance.all_logs(first.run_id)]
    assert any("signal 9" in m or "SIGKILL" in m or "-9" in m for m in messages), messages[-5:]
    assert [r.run_id for r in runs] == [first.run_id, done.run_id]
    assert done.parent_run_id == first.run_id
    assert done.tags.get("dagster/retry_number") == "1"
    assert done.status == dg.DagsterRunStatus.SUCCESS

    # exactly one complete copy: the final file only, no temp file anywhere in the lake
    # (killed while its temp file was being written, before the rename published it)
    (final,) = published(folder)
    assert temp.name.startswith(f".{final.name}.tmp-")
    assert size_at_kill <= final.stat().st_size
    assert temp_files(lake) == []
    assert sorted(p.name for p in folder.iterdir()) == [final.name]
    assert not (lake / "rejects").exists()
    # the dead worker's scratch folder (its half-written Parquet) went with the retry
    assert list(scratch.glob("aerofs-*")) == []

    # no row lost or duplicated: same count, unique ids, same content as the CSV
    table = pq.read_table(final).drop_columns(["batch_id"])
    assert table.num_rows == ROWS
    ids = table.column("id").to_numpy()
    assert ids.min() == 1 and ids.max() == ROWS and len(set(ids.tolist())) == ROWS
    expected = kernels.read_csv(src, schema=table.schema).read_all()
    assert table.equals(expected)

    # the manifest accounts for the file with the input's digest
    store = open_storage(str(lake))
    manifest = json.loads(store.read_bytes(f"manifests/{BATCH}.json"))
    entry = next(f for f in manifest["files"] if f["name"] == "events.csv")
    assert entry["status"] == "processed"
    assert entry["digest"] == kernels.digest(src)
    assert manifest["counts"] == {"processed": 1, "quarantined": 0, "skipped": 1}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie until its parent (the code server) reaps it
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_atomic_write_sweeps_temps_of_dead_writers_only(tmp_path: Path) -> None:
    """What a kill -9 leaves between temp file and rename goes with the next write of the
    key; temps of live writers (this process) and of other hosts stay."""
    from aerofs_pipelines.lake.storage import LocalStorage, temp_path_for

    store = LocalStorage(tmp_path / "lake")
    store.write_bytes("tables/t/batch=b/x.parquet", b"old")
    final = tmp_path / "lake" / "tables" / "t" / "batch=b" / "x.parquet"
    mine = temp_path_for(final)
    assert mine.name.startswith(f".x.parquet.tmp-{os.getpid()}@")
    dead = mine.with_name(mine.name.replace(f"-{os.getpid()}@", f"-{_dead_pid()}@"))
    host = mine.name.partition("@")[2].rpartition("-")[0]
    other_host = final.with_name(f".x.parquet.tmp-{_dead_pid()}@{host}-2-abc")
    for path in (mine, dead, other_host):
        path.write_bytes(b"partial")
    store.write_bytes("tables/t/batch=b/x.parquet", b"new")
    assert final.read_bytes() == b"new"
    assert sorted(p.name for p in final.parent.iterdir()) == sorted(
        [mine.name, other_host.name, "x.parquet"]
    )
    # hidden: listings that feed the catalog skip them
    assert [f.key for f in store.list_files("tables") if ".tmp-" not in f.key] == [
        "tables/t/batch=b/x.parquet"
    ]


def test_a_folder_is_listed_again_only_when_it_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run writing many batches into one folder (manifests/: a file per batch ever
    processed) lists it once, not per write; a temp left there later still goes."""
    from aerofs_pipelines.lake import storage

    listings: list[Path] = []
    sweep = storage._sweep_dead_temps

    def counting(folder: Path) -> list[Path]:
        listings.append(folder)
        return sweep(folder)

    monkeypatch.setattr(storage, "_sweep_dead_temps", counting)
    store = storage.LocalStorage(tmp_path / "lake")
    for i in range(50):
        store.write_bytes(f"manifests/b-{i:03d}.json", b"{}")
    assert listings == [tmp_path / "lake" / "manifests"]
    final = tmp_path / "lake" / "manifests" / "b-000.json"
    mine = storage.temp_path_for(final)
    dead = mine.with_name(mine.name.replace(f"-{os.getpid()}@", f"-{_dead_pid()}@"))
    dead.write_bytes(b"partial")  # the folder's mtime moves
    store.write_bytes("manifests/b-050.json", b"{}")
    assert not dead.exists()
    assert len(listings) == 2


def test_scratch_dir_of_a_dead_process_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from aerofs_pipelines.lake import storage

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with storage.scratch_dir("tables") as live:
        assert live.parent == tmp_path and live.name.startswith("aerofs-tables-")
        (live / "table.parquet").write_bytes(b"x")
        assert live.name.startswith(f"aerofs-tables-{os.getpid()}@")
        dead = tmp_path / live.name.replace(f"-{os.getpid()}@", f"-{_dead_pid()}@")
        (dead / "sub").mkdir(parents=True)
        (dead / "sub" / "table.parquet").write_bytes(b"half")
        with storage.scratch_dir("tables") as second:  # sweeps the dead one, not `live`
            assert not dead.exists()
            assert live.is_dir() and second != live
        assert not second.exists()
    assert not live.exists()
    assert list(tmp_path.iterdir()) == []


def test_io_manager_sweeps_a_dead_writers_temp(tmp_path: Path) -> None:
    import pyarrow as pa
    from upath import UPath

    from aerofs_pipelines.lake.io_manager import PartitionedParquetIOManager
    from aerofs_pipelines.lake.storage import temp_path_for

    manager = PartitionedParquetIOManager(base_path=UPath(str(tmp_path)))
    target = tmp_path / "tables" / "b1.parquet"
    target.parent.mkdir()
    mine = temp_path_for(target)
    stale = mine.with_name(mine.name.replace(f"-{os.getpid()}@", f"-{_dead_pid()}@"))
    stale.write_bytes(b"partial")
    context = dg.build_output_context()
    manager.dump_to_path(context=context, obj=pa.table({"a": [1, 2]}), path=UPath(str(target)))
    assert sorted(p.name for p in target.parent.iterdir()) == ["b1.parquet"]
    assert pq.read_table(target).num_rows == 2


def test_environment_errors_are_not_data_errors() -> None:
    import errno

    from aerofs_pipelines.kernels.errors import InputFormatError, is_environment_error

    assert is_environment_error(OSError(errno.ENOSPC, "No space left on device"))
    assert is_environment_error(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_environment_error(OSError(errno.ENOENT, "No such file"))
    assert not is_environment_error(InputFormatError("bad row", "x.csv", 3, 1))
