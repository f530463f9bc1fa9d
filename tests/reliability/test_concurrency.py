"""Concurrency: batches landing together, the same id landing twice, late and re-landed files.

The product's own pieces on the embedded defaults (SQLite, local folders): ``aerofs
ingest`` (as real concurrent processes where it matters), a tick of the real
``landing_sensor`` evaluated as the daemon evaluates it, and the runs it requests.

Decisions these tests pin (README, "Landing the same batch id twice"):

- a batch id lands once: a second ``aerofs ingest`` of an id that is complete, or being
  ingested right now, is refused (exit 1, one line on stderr); two racing ingests of one
  id leave exactly one of them, never a mix;
- ``_SUCCESS`` lists the batch's files: a file added (or changed) after it is not
  processed as part of the batch; the manifest says so;
- a batch that lands again after it was processed is compared by digest: the same
  content is a no-op (no run), different content is refused with a logged reason (no
  run, the processed outputs stay as they were). Batches are immutable once processed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pytest

from aerofs_pipelines import cli
from aerofs_pipelines.lake.storage import open_storage
from aerofs_pipelines.landing.scan import record_ready
from tests.reliability.batchgen import TABLES, SourceBatch, make_batch, verify_batch
from tests.support.pipeline import launch, product_defs, snapshot, tick

AEROFS = str(Path(sys.executable).with_name("aerofs"))


def ingest_procs(
    batches: Sequence[tuple[SourceBatch, str]], landing: Sequence[str] = ()
) -> list[subprocess.Popen[str]]:
    """Start ``aerofs ingest SRC --batch ID`` for each (source, id) at once (``landing``:
    extra arguments, e.g. ``["--landing", "s3://..."]``)."""
    return [
        subprocess.Popen(
            [AEROFS, "ingest", str(src.folder), "--batch", batch_id, *landing],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for src, batch_id in batches
    ]


def finish(procs: Sequence[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    out = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        out.append((proc.returncode, err))
    return out


def process_all(
    defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None
) -> tuple[list[str], str | None]:
    """One sensor tick and the runs it requests, executed; the batches run and the cursor."""
    requests, added, cursor = tick(defs, instance, cursor)
    assert sorted(added) == sorted(str(r.partition_key) for r in requests)
    for request in requests:
        assert launch(defs, instance, request).success, request.partition_key
    return [str(r.partition_key) for r in requests], cursor


def test_two_batches_landing_at_once(embedded: dg.DagsterInstance, tmp_path: Path) -> None:
    a, b = (
        make_batch(tmp_path / "src", "at-once-a", 1),
        make_batch(tmp_path / "src", "at-once-b", 2),
    )
    results = finish(ingest_procs([(a, a.batch_id), (b, b.batch_id)]))
    assert [code for code, _ in results] == [0, 0], results
    ran, _ = process_all(product_defs(), embedded, None)
    assert sorted(ran) == ["at-once-a", "at-once-b"]
    lake = open_storage(str(tmp_path / "lake"))
    for batch in (a, b):  # each batch's outputs hold its own files and rows, nothing else
        verify_batch(lake, batch)
    assert len(embedded.get_runs()) == 2


def test_same_batch_id_twice_is_refused_never_merged(
    embedded: dg.DagsterInstance,
    tmp_path: Path,
) -> None:
    landing = tmp_path / "landing"
    # Racing ingests of one new id, with different files: one lands, the other is refused.
    for round_ in range(3):
        batch_id = f"race-{round_}"
        one = make_batch(tmp_path / f"one-{round_}", batch_id, 3 * round_)
        two = make_batch(tmp_path / f"two-{round_}", batch_id, 3 * round_ + 1)
        results = finish(ingest_procs([(one, batch_id), (two, batch_id)]))
        codes = sorted(code for code, _ in results)
        assert codes == [0, 1], results
        (err,) = [err for code, err in results if code == 1]
        assert err.count("\n") == 1 and (
            "is being ingested by another process" in err or "already complete" in err
        ), err
        winner = one if results[0][0] == 0 else two
        landed = sorted(p.name for p in (landing / batch_id).iterdir())
        assert landed == sorted([*winner.files, "_SUCCESS"])  # exactly the winner's files
        for name in winner.files:
            assert (landing / batch_id / name).read_bytes() == (winner.folder / name).read_bytes()
        marker = json.loads((landing / batch_id / "_SUCCESS").read_text())
        assert sorted(f["name"] for f in marker["files"]) == winner.files

    # An id already complete: refused with a clear error, the batch untouched.
    before = (landing / "race-0" / "_SUCCESS").read_bytes()
    assert cli.main(["ingest", str(tmp_path / "one-1" / "race-1"), "--batch", "race-0"]) == 1
    assert (landing / "race-0" / "_SUCCESS").read_bytes() == before

    # An ingest in flight (holding the batch's lock, as `aerofs ingest` does while it
    # copies): a second ingest of that id is refused; once the holder dies (kill -9) the
    # lock is gone and the id lands, replacing the dead attempt's leftovers.
    src = make_batch(tmp_path / "flight", "flight", 42)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from aerofs_pipelines.landing.ingest import batch_lock\n"
            "from aerofs_pipelines.lake.storage import open_storage\n"
            "with batch_lock(open_storage(sys.argv[1]), 'flight'):\n"
            "    open(sys.argv[1] + '/flight/partial.csv', 'w').write('a,b\\n')\n"
            "    print('locked', flush=True)\n"
            "    sys.stdin.read()\n",
            str(landing),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        ((code, err),) = finish(ingest_procs([(src, "flight")]))
        assert code == 1 and "'flight' is being ingested by another process" in err, err
        assert not (landing / "flight" / "_SUCCESS").exists()
    finally:
        holder.kill()
        holder.wait()
    ((code, err),) = finish(ingest_procs([(src, "flight")]))
    assert code == 0, err
    assert sorted(p.name for p in (landing / "flight").iterdir()) == sorted(
        [*src.files, "_SUCCESS"]
    )

    # Nothing above was merged: each landed batch is processed as exactly one source.
    ran, _ = process_all(product_defs(), embedded, None)
    assert sorted(ran) == ["flight", "race-0", "race-1", "race-2"]
    lake = open_storage(str(tmp_path / "lake"))
    verify_batch(lake, src)


def test_files_added_or_changed_after_the_marker_are_not_merged(
    embedded: dg.DagsterInstance,
    tmp_path: Path,
) -> None:
    src = make_batch(tmp_path / "src", "late", 5)
    assert cli.main(["ingest", str(src.folder), "--batch", "late"]) == 0
    batch = tmp_path / "landing" / "late"
    (batch / "late.csv").write_text("id,label,amount\n999999,late,1.00\n")  # after _SUCCESS
    text_name = sorted(src.texts)[0]
    (batch / text_name).write_text("rewritten after the marker\n")

    ran, _ = process_all(product_defs(), embedded, None)
    assert ran == ["late"]
    lake = open_storage(str(tmp_path / "lake"))
    files = {f["name"]: f for f in json.loads(lake.read_bytes("manifests/late.json"))["files"]}
    assert files["late.csv"]["status"] == "skipped"
    assert "not part of the batch" in files["late.csv"]["reason"]
    assert files[text_name]["status"] == "quarantined"
    assert "changed after the batch was completed" in files[text_name]["reason"]
    assert not lake.list_files("unregistered/tables/late/batch=late")
    assert not lake.exists(f"text_stats/batch=late/{text_name}.json")
    for name in src.rows:  # the files the marker lists are processed as usual
        assert files[name]["status"] == "processed"
        assert lake.exists(files[name]["output"])
        assert files[name]["output"].startswith(f"unregistered/tables/{TABLES[name]}/batch=late/")


@pytest.mark.parametrize("change", [False, True], ids=["same-content", "changed-content"])
def test_batch_landing_again_after_processing(
    embedded: dg.DagsterInstance,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    change: bool,
) -> None:
    landing, lake_dir = tmp_path / "landing", tmp_path / "lake"
    src = make_batch(tmp_path / "src", "again", 7)
    assert cli.main(["ingest", str(src.folder), "--batch", "again"]) == 0
    defs = product_defs()
    ran, cursor = process_all(defs, embedded, None)
    assert ran == ["again"]
    lake = open_storage(str(lake_dir))
    verify_batch(lake, src)
    before = snapshot(lake)
    runs_before = len(embedded.get_runs())

    # The batch lands again under its id: removed from the landing zone and ingested anew
    # (or rewritten by another tool and announced): same files, or one file changed and
    # one added.
    shutil.rmtree(landing / "again")
    if change:
        (src.folder / "events.csv").write_text("id,label,amount\n1,changed,2.00\n")
        (src.folder / "extra.txt").write_text("one more file\n")
    assert cli.main(["ingest", str(src.folder), "--batch", "again"]) == 0
    record_ready(str(landing), "again")  # a duplicate announcement changes nothing either
    capfd.readouterr()

    requests, added, _ = tick(defs, embedded, cursor)
    log = capfd.readouterr().err
    assert requests == [] and added == []  # no run, no new partition: nothing re-processed
    assert len(embedded.get_runs()) == runs_before
    assert snapshot(lake) == before  # the processed outputs are untouched
    if change:
        assert "refused re-landing of batch 'again'" in log
        assert "added: extra.txt; changed: events.csv" in log
        assert "land the new content under a new batch id" in log
    else:
        assert "batch 'again' landed again with the same content" in log
        assert "refused" not in log


def test_same_batch_id_twice_on_s3_is_refused_never_merged(
    s3_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """S3 has no flock: a lease object created with a conditional write (``If-None-Match:
    *``) lets one ingest of an id in; a lease left by a dead writer is taken over after its
    term, by one writer only (``If-Match`` on its ETag)."""
    from aerofs_pipelines.lake.storage import S3Storage

    url = f"s3://{s3_env}/landing"
    store = open_storage(url)
    assert isinstance(store, S3Storage)
    lease = "_aerofs/ingest-locks/"

    # Racing ingests of one new id: exactly one lands, whole; the other is refused.
    for round_ in range(3):
        batch_id = f"s3race-{round_}"
        one = make_batch(tmp_path / f"one-{round_}", batch_id, 5 * round_)
        two = make_batch(tmp_path / f"two-{round_}", batch_id, 5 * round_ + 1)
        results = finish(ingest_procs([(one, batch_id), (two, batch_id)], ["--landing", url]))
        assert sorted(code for code, _ in results) == [0, 1], results
        (err,) = [err for code, err in results if code == 1]
        assert err.count("\n") == 1 and (
            "is being ingested by another process" in err or "already complete" in err
        ), err
        winner = one if results[0][0] == 0 else two
        landed = {f.key.split("/", 1)[1] for f in store.list_files(batch_id)}
        assert landed == {*winner.files, "_SUCCESS"}
        for name in winner.files:
            assert store.read_bytes(f"{batch_id}/{name}") == (winner.folder / name).read_bytes()
        assert not store.exists(lease + batch_id)  # released

    # A live lease: refused, nothing written under the batch.
    src = make_batch(tmp_path / "held", "held", 99)
    assert store.write_if(lease + "held", b"{}")
    assert cli.main(["ingest", str(src.folder), "--batch", "held", "--landing", url]) == 1
    assert store.list_files("held") == []
    # Left by a writer that died: taken over once its term is over, and released.
    monkeypatch.setenv("AEROFS_INGEST_LEASE_SECONDS", "1")
    time.sleep(1.2)
    assert cli.main(["ingest", str(src.folder), "--batch", "held", "--landing", url]) == 0
    assert {f.key for f in store.list_files("held")} == {
        f"held/{n}" for n in [*src.files, "_SUCCESS"]
    }
    assert not store.exists(lease + "held")
    # Two writers reviving the same dead lease: S3 lets one replace it.
    assert store.write_if(lease + "x", b"dead")
    dead_etag, _ = store.head(lease + "x") or ("", None)
    assert store.write_if(lease + "x", b"a", etag=dead_etag)
    assert not store.write_if(lease + "x", b"b", etag=dead_etag)
    assert store.read_bytes(lease + "x") == b"a"
