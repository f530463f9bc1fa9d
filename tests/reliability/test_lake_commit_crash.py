"""kill -9 of a writer in the middle of a batch's commit to a lake table (issue 13).

A table holds batch ``b1``; a child process commits ``b2`` to it with the product's
``commit_batch`` and dies by SIGKILL at a precise point of pyiceberg's SQL-catalog
commit, on the SQLite catalog and on the PostgreSQL one:

- ``files-written``: the new manifest, manifest list and ``.metadata.json`` are in the
  lake; the catalog's ``UPDATE`` that moves the table's pointer is about to be sent;
- ``update-blocked``: that ``UPDATE`` has been sent and waits in the database on a lock
  the test holds on the catalog (PostgreSQL: a row lock, seen waiting in
  ``pg_stat_activity``; SQLite: the write lock), and the test kills the child there;
- ``update-executed``: the ``UPDATE`` ran (the row changed inside the child's open
  transaction); the ``COMMIT`` has not been sent;
- ``committed``: the catalog's ``COMMIT`` returned; the writer dies before reporting.

The points are made certain without touching the product: the child installs SQLAlchemy
event listeners (fault injection in the child alone) that ``SIGKILL`` its own process
when the catalog's pointer ``UPDATE`` is about to be sent, has run, or was committed
(or, for ``table-created``, once the ``INSERT`` of a new table's row was committed).

After each kill: the table loads; before ``committed`` it is still at its previous
snapshot (b1's rows only, the same metadata file), the dead writer's files lie orphaned
beside it, named by nothing; a retry commits b2 exactly once (one new snapshot, naming
b2, on top of b1's); a second retry is a no-op. After ``committed`` the table already
holds b2 once and the retry is the no-op. The orphans break nothing: the table reads,
describes, takes a further batch.

The first batch's commit also creates the table (``create_table``, then a commit that
sets its name mapping): a writer killed between the two (``table-created``) must leave
a table that the retry completes and that can be read.
"""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
import sqlalchemy as sa
from pyiceberg.table import Table, TableProperties

from aerofs_pipelines import kernels
from aerofs_pipelines.lake import iceberg
from aerofs_pipelines.lake.iceberg import BATCH_PROPERTY, commit_batch, open_catalog

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TABLE = "aerofs.orders"
CHILD_APP = "aerofs-commit-crash"
"""PostgreSQL ``application_name`` of the child's connections (to find its backends)."""
POINTS = ("files-written", "update-blocked", "update-executed", "committed")
B1_ROWS = [(1, 1.5), (2, 2.5), (3, 3.5)]
B2_ROWS = [(10, 10.5), (11, 11.5)]

CHILD = r"""
import os, signal, sys
import sqlalchemy as sa
from sqlalchemy.orm import Session
from aerofs_pipelines.lake.iceberg import commit_batch, open_catalog

point, location, batch_id, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
pointer_updated = table_inserted = False


def say(word):
    print(word, flush=True)


def die(where):
    say(f"killed:{where}")
    os.kill(os.getpid(), signal.SIGKILL)


def moves_pointer(statement):
    # pyiceberg's SqlCatalog.commit_table: UPDATE iceberg_tables SET metadata_location=...
    return statement.lstrip().upper().startswith("UPDATE ICEBERG_TABLES")


def creates_table(statement):
    # SqlCatalog.create_table: INSERT INTO iceberg_tables (the new table's row)
    return statement.lstrip().upper().startswith("INSERT INTO ICEBERG_TABLES")


@sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
def before(conn, cursor, statement, parameters, context, executemany):
    if moves_pointer(statement):
        if point == "files-written":
            die(point)
        say("sending-update")


@sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
def after(conn, cursor, statement, parameters, context, executemany):
    global pointer_updated, table_inserted
    table_inserted = table_inserted or creates_table(statement)
    if moves_pointer(statement):
        pointer_updated = True
        if point == "update-executed":
            die(point)


@sa.event.listens_for(Session, "after_commit")
def committed(session):
    # pyiceberg's own create_table commits an ORM session
    if table_inserted and point == "table-created":
        die(point)


@sa.event.listens_for(sa.pool.Pool, "checkin")
def returned(dbapi_connection, connection_record):
    # the lake catalog's pointer update runs in ``engine.begin()`` (SQLAlchemy Core): its
    # connection goes back to the pool once the transaction committed
    if pointer_updated and point == "committed":
        die(point)


catalog = open_catalog()
say("ready")
done = commit_batch(catalog, "orders", batch_id, files, location=location)
say(f"finished:{done.snapshot_id}")
"""


@dataclass(frozen=True)
class CatalogSetup:
    """The SQL catalog a test runs on (the test's own settings point at it too)."""

    env: dict[str, str]
    """The child's settings."""
    sqlite_path: Path
    """The SQLite catalog's file (unused on PostgreSQL)."""
    pg_url: str | None = None
    """The PostgreSQL database holding the catalog; None: SQLite."""


@pytest.fixture(params=["sqlite", "postgresql"])
def lake_catalog(
    request: pytest.FixtureRequest, lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CatalogSetup:
    """The shared ``lake`` fixture's lake; the catalog in SQLite or a fresh PostgreSQL
    database (the child's connections named by ``application_name``)."""
    env = {"DAGSTER_HOME": str(tmp_path / "home"), "AEROFS_LAKE": str(lake)}
    sqlite_path = tmp_path / "home" / "lake" / "catalog.db"
    if request.param == "sqlite":
        return CatalogSetup(env, sqlite_path)
    pg_url: str = request.getfixturevalue("pg_url")
    monkeypatch.setenv("AEROFS_PG_URL", pg_url)
    child_url = f"{pg_url}?application_name={CHILD_APP}"
    return CatalogSetup({**env, "AEROFS_PG_URL": child_url}, sqlite_path, pg_url)


def batch_file(tmp: Path, lake: Path, batch_id: str, rows: list[tuple[int, float]]) -> str:
    """The batch's Parquet file in the table's folder, as the pipeline's kernel writes it."""
    src = tmp / f"{batch_id}.csv"
    src.write_text("id,amount\n" + "".join(f"{i},{a}\n" for i, a in rows))
    dst = lake / "tables" / "orders" / f"batch={batch_id}" / "part.parquet"
    dst.parent.mkdir(parents=True, exist_ok=True)
    kernels.csv_to_parquet(src, dst, constant_columns={"batch_id": batch_id})
    return str(dst)


def metadata_files(location: Path) -> set[str]:
    """Every file in the table's metadata folder (metadata JSON, manifests, lists)."""
    folder = location / "metadata"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def rows_of(table: Table) -> list[tuple[str, int, float]]:
    data = table.scan().to_arrow()
    cols = (data[c].to_pylist() for c in ("batch_id", "id", "amount"))
    return sorted(zip(*cols, strict=True))


def batches_of(table: Table) -> list[str | None]:
    """The batch each snapshot committed, oldest first."""
    return [
        s.summary.additional_properties.get(BATCH_PROPERTY) if s.summary else None
        for s in table.snapshots()
    ]


# ----------------------------------------------------------------------- the child


@dataclass
class Child:
    """The writer process; its stdout lines arrive on a queue (a thread reads them)."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.strip())
        self.lines.put(None)

    def expect(self, word: str, timeout: float = 60) -> None:
        """Wait for the child to say ``word``; fail with what it said and its stderr."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the child never said {word!r}: {self.seen}") from None
            if line is None:
                raise AssertionError(f"the child ended before {word!r}: {self.seen}\n{self.err()}")
            self.seen.append(line)
            if line == word:
                return

    def err(self) -> str:
        self.proc.wait(30)
        assert self.proc.stderr is not None
        return self.proc.stderr.read()[-3000:]


@contextmanager
def child(
    env: dict[str, str], point: str, location: Path, batch_id: str, files: list[str]
) -> Iterator[Child]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, point, str(location), batch_id, *files],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writer = Child(proc)
    assert proc.stdout is not None
    reader = threading.Thread(target=writer.pump, args=(proc.stdout,), daemon=True)
    reader.start()
    try:
        yield writer
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        reader.join(10)


# ------------------------------------------------- holding the catalog's pointer still


@contextmanager
def sqlite_write_lock(db: Path) -> Iterator[Callable[[], bool]]:
    """Hold SQLite's write lock on the catalog: readers go on, the child's ``UPDATE``
    waits in its busy handler (the product opens the catalog with a 30 s timeout)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield lambda: True  # nothing to see from outside: the lock alone keeps it waiting
    finally:
        conn.execute("ROLLBACK")
        conn.close()


WAITING_UPDATE = sa.text(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name = :app AND state = 'active' AND wait_event_type = 'Lock' "
    "AND query LIKE 'UPDATE iceberg_tables%'"
)
CHILD_BACKENDS = sa.text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name = :app"
)


@contextmanager
def pg_row_lock(engine: sa.Engine) -> Iterator[Callable[[], bool]]:
    """Lock the table's catalog row (``SELECT ... FOR UPDATE``): the child's ``UPDATE``
    reaches the server and waits there; yields a probe that sees it waiting."""
    with engine.connect() as holder:
        holder.begin()
        locked = holder.execute(
            sa.text(
                f"SELECT metadata_location FROM {iceberg.PG_SCHEMA}.iceberg_tables "
                "WHERE table_name = 'orders' FOR UPDATE"
            )
        ).all()
        assert len(locked) == 1, locked

        def waiting() -> bool:
            with engine.connect() as conn:
                return conn.execute(WAITING_UPDATE, {"app": CHILD_APP}).first() is not None

        try:
            yield waiting
        finally:
            holder.rollback()


@contextmanager
def pointer_frozen(setup: CatalogSetup) -> Iterator[Callable[[], bool]]:
    """The catalog's row of the table held still by a lock of the test's; yields a probe
    that says when the child's ``UPDATE`` waits on it. On PostgreSQL, waits at the end
    (the lock released) until the killed child's backend is gone: it ran the ``UPDATE``
    once free, found its client dead, and rolled its transaction back."""
    if setup.pg_url is None:
        with sqlite_write_lock(setup.sqlite_path) as waiting:
            yield waiting
        return
    engine = sa.create_engine(setup.pg_url)
    try:
        with pg_row_lock(engine) as waiting:
            yield waiting

        def gone() -> bool:
            with engine.connect() as conn:
                return int(conn.execute(CHILD_BACKENDS, {"app": CHILD_APP}).scalar_one()) == 0

        wait_for(gone, "the killed child's PostgreSQL backend to end")
    finally:
        engine.dispose()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


# ------------------------------------------------------------------------- the test


def kill_mid_commit(
    setup: CatalogSetup, point: str, location: Path, files: list[str], batch_id: str = "b2"
) -> list[str]:
    """Run the child to ``point`` of the batch's commit and SIGKILL it there; what it
    said."""
    if point != "update-blocked":  # the child kills itself there
        with child(setup.env, point, location, batch_id, files) as writer:
            writer.expect("ready")
            writer.expect(f"killed:{point}")
            assert writer.proc.wait(60) == -signal.SIGKILL, writer.err()
        return writer.seen
    with (
        pointer_frozen(setup) as waiting,
        child(setup.env, point, location, batch_id, files) as writer,
    ):
        writer.expect("ready")
        writer.expect("sending-update")
        wait_for(waiting, "the child's UPDATE to wait on the test's lock")
        time.sleep(0.2)  # and it stays there: the lock holds it
        assert writer.proc.poll() is None, writer.err()
        os.kill(writer.proc.pid, signal.SIGKILL)
        assert writer.proc.wait(30) == -signal.SIGKILL
    return writer.seen


@pytest.mark.parametrize("point", POINTS)
def test_a_commit_killed_midway_leaves_the_previous_snapshot_and_the_retry_commits_once(
    lake_catalog: CatalogSetup, point: str, lake: Path, tmp_path: Path
) -> None:
    location = lake / "tables" / "orders"
    b1 = batch_file(tmp_path, lake, "b1", B1_ROWS)
    first = commit_batch(open_catalog(), "orders", "b1", [b1], location=str(location))
    assert first.rows == len(B1_ROWS)
    table = open_catalog().load_table(TABLE)
    before = table.current_snapshot()
    assert before is not None and before.snapshot_id == first.snapshot_id
    before_metadata, before_files = table.metadata_location, metadata_files(location)
    b1_rows = [("b1", i, a) for i, a in B1_ROWS]
    b2_rows = [("b2", i, a) for i, a in B2_ROWS]

    files = [batch_file(tmp_path, lake, "b2", B2_ROWS)]
    said = kill_mid_commit(lake_catalog, point, location, files)
    assert not [s for s in said if s.startswith("finished")], said  # it never got there

    # the dead writer's manifest, manifest list and metadata JSON are in the lake
    left = metadata_files(location) - before_files
    assert [n for n in left if n.endswith(".metadata.json")], left
    assert [n for n in left if n.startswith("snap-") and n.endswith(".avro")], left
    assert len([n for n in left if n.endswith(".avro")]) >= 2, left

    table = open_catalog().load_table(TABLE)  # the table loads
    current = table.current_snapshot()
    assert current is not None
    if point == "committed":  # the catalog's commit landed before the kill: b2 is in
        assert current.parent_snapshot_id == before.snapshot_id
        assert batches_of(table) == ["b1", "b2"]
        assert rows_of(table) == b1_rows + b2_rows
        orphans: set[str] = set()
    else:  # the previous snapshot, the previous metadata: b1 only, no row of b2
        assert current.snapshot_id == before.snapshot_id
        assert table.metadata_location == before_metadata
        assert batches_of(table) == ["b1"]
        assert iceberg.batch_rows(table) == {"b1": len(B1_ROWS)}
        assert rows_of(table) == b1_rows
        orphans = left
        # the newest metadata file in the folder is the dead writer's, naming b2: only
        # the catalog's pointer tells the current one (never "the latest file")
        newest = max(n for n in metadata_files(location) if n.endswith(".metadata.json"))
        assert newest in orphans and newest != Path(before_metadata).name
    named = {Path(m.metadata_file).name for m in table.metadata.metadata_log}
    assert not orphans & (named | {Path(table.metadata_location).name})

    # the retry commits b2 once (or, after "committed", finds it there: a no-op)
    retry = commit_batch(open_catalog(), "orders", "b2", files, location=str(location))
    assert (retry.rows, retry.table_rows, retry.retries) == (len(B2_ROWS), 5, 0)
    assert retry.unchanged == (point == "committed")
    table = open_catalog().load_table(TABLE)
    current = table.current_snapshot()
    assert current is not None and current.snapshot_id == retry.snapshot_id
    assert current.parent_snapshot_id == before.snapshot_id
    assert batches_of(table) == ["b1", "b2"]  # one snapshot names b2
    assert iceberg.batch_rows(table) == {"b1": len(B1_ROWS), "b2": len(B2_ROWS)}
    assert rows_of(table) == b1_rows + b2_rows  # every row of b2 once
    assert not orphans & {Path(table.metadata_location).name}

    # a second retry: nothing to commit
    again = commit_batch(open_catalog(), "orders", "b2", files, location=str(location))
    assert again.unchanged and again.snapshot_id == retry.snapshot_id
    assert len(open_catalog().load_table(TABLE).snapshots()) == 2

    # the orphans are still there and harm nothing: the table describes, takes a batch
    assert orphans <= metadata_files(location)
    b3 = batch_file(tmp_path, lake, "b3", [(20, 20.5)])
    commit_batch(open_catalog(), "orders", "b3", [b3], location=str(location))
    table = open_catalog().load_table(TABLE)
    doc = iceberg.describe(table)
    assert [s["batch"] for s in doc["snapshots"]] == ["b1", "b2", "b3"]
    assert doc["rows_per_batch"] == {"b1": 3, "b2": 2, "b3": 1}
    assert rows_of(table) == [*b1_rows, *b2_rows, ("b3", 20, 20.5)]


def test_a_first_commit_killed_once_the_table_is_created_is_completed_by_the_retry(
    lake_catalog: CatalogSetup, lake: Path, tmp_path: Path
) -> None:
    """The first batch creates the table: ``create_table`` commits the catalog's row,
    then a second commit sets the name mapping the kernel's Parquet (no field ids) needs
    to be read. A writer killed between the two must not leave a table that takes
    batches and cannot be read."""
    location = lake / "tables" / "orders"
    files = [batch_file(tmp_path, lake, "b1", B1_ROWS)]
    said = kill_mid_commit(lake_catalog, "table-created", location, files, batch_id="b1")
    assert not [s for s in said if s.startswith("finished")], said

    table = open_catalog().load_table(TABLE)  # the table exists, without a snapshot
    assert table.current_snapshot() is None

    retry = commit_batch(open_catalog(), "orders", "b1", files, location=str(location))
    assert (retry.rows, retry.unchanged, retry.retries) == (len(B1_ROWS), False, 0)
    table = open_catalog().load_table(TABLE)
    assert TableProperties.DEFAULT_NAME_MAPPING in table.properties, (
        "the retry committed b1 to a table without its name mapping: no reader can read "
        f"the batch's Parquet (no field ids); table properties: {table.properties}"
    )
    assert batches_of(table) == ["b1"]
    assert rows_of(table) == [("b1", i, a) for i, a in B1_ROWS]
    again = commit_batch(open_catalog(), "orders", "b1", files, location=str(location))
    assert again.unchanged and again.snapshot_id == retry.snapshot_id
