"""HTTP ingest's domain logic (landing.uploads): files stream into a batch piece by piece,
are published whole or not at all, never replace one another, and ``complete`` writes the
same ``_SUCCESS`` as ``aerofs ingest``. Every test runs on a local folder and on a real S3
protocol server (moto in server mode), where a file over ``STREAM_PART_BYTES`` goes up as
a multipart upload."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aerofs_pipelines import kernels
from aerofs_pipelines.lake.storage import (
    STREAM_PART_BYTES,
    LocalStorage,
    NewObject,
    S3Storage,
    Storage,
    UnsafePathError,
    open_storage,
)
from aerofs_pipelines.landing.batches import (
    InvalidBatchIdError,
    batch_digest,
    marker_document,
    parse_marker,
)
from aerofs_pipelines.landing.ingest import BatchExistsError, BatchInFlightError, ingest
from aerofs_pipelines.landing.scan import LocalScanner
from aerofs_pipelines.landing.uploads import (
    STAGING_DIR,
    UPLOADS_DIR,
    BatchClaimed,
    BatchComplete,
    BatchUploads,
    ContentConflict,
    DigestMismatch,
    FileListMismatch,
    InvalidName,
    NothingUploaded,
    UploadedFile,
    UploadTooLarge,
    remove_abandoned,
)

MAX_BYTES = 64 * 1024 * 1024
BIG = 2 * STREAM_PART_BYTES + 12_345
"""Over two parts: a multipart upload on S3 (two whole parts and a short last one)."""


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "landing")
    else:
        bucket = request.getfixturevalue("s3_env")
        s3 = open_storage(f"s3://{bucket}/landing")
        assert isinstance(s3, S3Storage)
        yield s3


@pytest.fixture
def uploads(store: Storage) -> BatchUploads:
    return BatchUploads(store, max_bytes=MAX_BYTES)


def payload(size: int, seed: int = 0) -> bytes:
    """``size`` bytes that differ with ``seed`` (not compressible into sameness)."""
    block = bytes((i * 131 + seed * 17 + (i >> 8)) % 256 for i in range(4096))
    return (block * (size // len(block) + 1))[:size]


def pieces(data: bytes, size: int = 1_000_003) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def upload(
    uploads: BatchUploads,
    batch_id: str,
    name: str,
    data: bytes,
    owner: str = "alice",
    expected: str | None = None,
) -> UploadedFile:
    with uploads.begin(batch_id, name, owner) as up:
        for piece in pieces(data):
            up.write(piece)
        return up.finish(expected)


def blake3_of(data: bytes, tmp_path: Path) -> str:
    """The digest ``aerofs ingest`` computes (``kernels.digest`` of a file)."""
    path = tmp_path / f"digest-{len(data)}-{hash(data)}.bin"
    path.write_bytes(data)
    return kernels.digest(path)


def pending_multipart(store: Storage) -> list[dict[str, Any]]:
    """S3's unfinished multipart uploads under the landing prefix ([] locally)."""
    if not isinstance(store, S3Storage):
        return []
    found = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=f"{store.prefix}/")
    uploads: list[dict[str, Any]] = found.get("Uploads", [])
    return uploads


def staged_files(store: Storage) -> list[str]:
    """Local staged files of uploads (S3 stages nothing as objects)."""
    return [f.key for f in store.list_files(STAGING_DIR)]


def assert_nothing_left_over(store: Storage) -> None:
    assert pending_multipart(store) == []
    assert staged_files(store) == []


def run_together(target: Callable[..., None], calls: list[tuple[Any, ...]]) -> None:
    """``target(*args)`` for each of ``calls``, each in its own thread; wait for all."""
    threads = [threading.Thread(target=target, args=args) for args in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive(), "a racing thread hung"


def data_files(store: Storage, batch_id: str) -> list[str]:
    return [f.key.split("/", 1)[1] for f in store.list_files(batch_id)]


# ------------------------------------------------------------------------------ streaming


@pytest.mark.parametrize("size", [0, 1, 100_000, STREAM_PART_BYTES, BIG])
def test_a_file_streamed_in_pieces_lands_whole_with_its_digest(
    store: Storage, uploads: BatchUploads, tmp_path: Path, size: int
) -> None:
    data = payload(size, seed=size % 251)
    up = uploads.begin("b1", "data.bin", "alice")
    written = 0
    for piece in pieces(data):
        up.write(piece)
        written += len(piece)
        assert up.size == written
        assert not store.exists("b1/data.bin")  # nothing visible before finish
        assert data_files(store, "b1") == []
    if isinstance(store, S3Storage):
        # over a part: a multipart upload in flight (invisible, but there); else buffered
        assert len(pending_multipart(store)) == (1 if size >= STREAM_PART_BYTES else 0)
        if size >= STREAM_PART_BYTES:
            assert pending_multipart(store)[0]["Key"] == "landing/b1/data.bin"
    else:
        assert len(staged_files(store)) == 1
    assert not store.exists("b1/data.bin")

    done = up.finish()
    expected = blake3_of(data, tmp_path)
    assert done == UploadedFile("b1", "data.bin", size, expected, created=True)
    assert store.read_bytes("b1/data.bin") == data
    assert data_files(store, "b1") == ["data.bin"]
    assert_nothing_left_over(store)
    # the file's size and digest are recorded for the marker
    state = uploads.state("b1")
    assert state.state == "uploading" and state.files == [("data.bin", size, expected)]


def test_the_digest_the_client_sends_is_checked_case_blind(
    store: Storage, uploads: BatchUploads, tmp_path: Path
) -> None:
    data = payload(BIG, seed=3)
    digest = blake3_of(data, tmp_path)
    done = upload(uploads, "b1", "big.bin", data, expected=digest.upper())
    assert done.created and done.digest == digest
    assert store.read_bytes("b1/big.bin") == data


@pytest.mark.parametrize("size", [10, BIG])
def test_abort_leaves_nothing(store: Storage, uploads: BatchUploads, size: int) -> None:
    data = payload(size)

    up = uploads.begin("b1", "aborted.bin", "alice")
    for piece in pieces(data):
        up.write(piece)
    up.abort()
    up.abort()  # idempotent
    assert not store.exists("b1/aborted.bin")
    assert_nothing_left_over(store)

    # as a context manager without finish
    with uploads.begin("b1", "unfinished.bin", "alice") as up:
        for piece in pieces(data):
            up.write(piece)
    assert not store.exists("b1/unfinished.bin")
    assert_nothing_left_over(store)

    # the client went away mid-stream (an exception through the block)
    with pytest.raises(ConnectionResetError), uploads.begin("b1", "broken.bin", "alice") as up:
        for piece in pieces(data):
            up.write(piece)
        raise ConnectionResetError("client gone")
    assert not store.exists("b1/broken.bin")
    assert_nothing_left_over(store)
    assert data_files(store, "b1") == []


@pytest.mark.parametrize("size", [10, BIG])
def test_a_digest_mismatch_keeps_nothing(
    store: Storage, uploads: BatchUploads, tmp_path: Path, size: int
) -> None:
    data = payload(size, seed=5)
    with pytest.raises(DigestMismatch, match="nothing was kept") as caught:
        upload(uploads, "b1", "data.bin", data, expected="0" * 64)
    assert caught.value.code == "DIGEST_MISMATCH"
    assert blake3_of(data, tmp_path) in str(caught.value)
    assert not store.exists("b1/data.bin")
    assert data_files(store, "b1") == []
    assert_nothing_left_over(store)
    # the name is still free: the right content lands
    assert upload(uploads, "b1", "data.bin", data).created


def test_a_file_over_the_size_cap_is_refused(store: Storage) -> None:
    small = BatchUploads(store, max_bytes=10)
    with small.begin("b1", "ten.bin", "alice") as up:
        up.write(b"x" * 6)
        up.write(b"y" * 4)  # exactly the cap: fine
        assert up.finish().size == 10
    with pytest.raises(UploadTooLarge) as caught, small.begin("b1", "eleven.bin", "alice") as up:
        up.write(b"x" * 6)
        up.write(b"y" * 5)
    assert caught.value.code == "PAYLOAD_TOO_LARGE"
    assert not store.exists("b1/eleven.bin")
    assert_nothing_left_over(store)

    # past a part on S3: the multipart upload already started is aborted
    cap = STREAM_PART_BYTES + 100
    capped = BatchUploads(store, max_bytes=cap)
    up = capped.begin("b1", "big.bin", "alice")
    up.write(payload(STREAM_PART_BYTES + 50))
    if isinstance(store, S3Storage):
        assert len(pending_multipart(store)) == 1
    with pytest.raises(UploadTooLarge):
        up.write(b"z" * 51)
    assert not store.exists("b1/big.bin")
    assert_nothing_left_over(store)
    assert data_files(store, "b1") == ["ten.bin"]


@pytest.mark.parametrize("size", [100, BIG])
def test_a_name_lands_once_repeats_are_accepted_other_content_refused(
    store: Storage, uploads: BatchUploads, size: int
) -> None:
    data = payload(size, seed=1)
    first = upload(uploads, "b1", "data.bin", data)
    assert first.created

    again = upload(uploads, "b1", "data.bin", data)
    assert again == UploadedFile("b1", "data.bin", size, first.digest, created=False)

    other = payload(size, seed=2)
    with pytest.raises(ContentConflict, match="another name") as caught:
        upload(uploads, "b1", "data.bin", other)
    assert caught.value.code == "CONTENT_CONFLICT"
    assert first.digest in str(caught.value)
    assert store.read_bytes("b1/data.bin") == data  # never replaced
    assert data_files(store, "b1") == ["data.bin"]
    assert_nothing_left_over(store)


@pytest.mark.parametrize(
    "name", ["..", ".", "_SUCCESS", "a/b", ".hidden", "", "x" * 129, "-dash", "a b", "a\\b"]
)
def test_invalid_file_names_are_refused(store: Storage, uploads: BatchUploads, name: str) -> None:
    with pytest.raises(InvalidName) as caught:
        uploads.begin("b1", name, "alice")
    assert caught.value.code == "INVALID_NAME"
    assert not uploads.claimed("b1")  # refused before anything was written
    assert store.list_files() == []


def test_names_at_the_limits_are_accepted(store: Storage, uploads: BatchUploads) -> None:
    for name in ["x" * 128, "a", "0.csv", "A_b-c.d"]:
        assert upload(uploads, "b1", name, name.encode()).created
    assert sorted(data_files(store, "b1")) == sorted(["x" * 128, "a", "0.csv", "A_b-c.d"])


@pytest.mark.parametrize("batch_id", ["..", "a/b", "_aerofs/x", "", ".x", "y" * 129])
def test_invalid_batch_ids_are_refused(
    store: Storage, uploads: BatchUploads, batch_id: str
) -> None:
    with pytest.raises(InvalidBatchIdError):
        uploads.begin(batch_id, "a.csv", "alice")
    with pytest.raises(InvalidBatchIdError):
        uploads.complete(batch_id, "alice")
    with pytest.raises(InvalidBatchIdError):
        uploads.state(batch_id)
    assert store.list_files() == []


def test_local_uploads_never_write_through_a_linked_batch_folder(tmp_path: Path) -> None:
    """A batch folder that is a symbolic link out of the landing zone is never written
    through (the storage's rule: nothing is written outside its root)."""
    store = LocalStorage(tmp_path / "landing")
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "b1").symlink_to(outside, target_is_directory=True)
    uploads = BatchUploads(store, max_bytes=MAX_BYTES)
    with pytest.raises(UnsafePathError, match="outside"):
        upload(uploads, "b1", "data.csv", b"x\n1\n")
    assert list(outside.iterdir()) == []
    assert_nothing_left_over(store)


# ------------------------------------------------------------------------------ claims


def test_a_batch_belongs_to_its_first_owner(store: Storage, uploads: BatchUploads) -> None:
    upload(uploads, "b1", "a.csv", b"x\n1\n", owner="alice")
    assert uploads.claimed("b1")
    with pytest.raises(BatchClaimed, match="another client") as caught:
        uploads.begin("b1", "b.csv", "bob")
    assert caught.value.code == "BATCH_IN_FLIGHT"
    with pytest.raises(BatchClaimed):
        uploads.complete("b1", "bob")
    # the owner continues
    assert upload(uploads, "b1", "b.csv", b"x\n2\n", owner="alice").created
    assert data_files(store, "b1") == ["a.csv", "b.csv"]
    assert not store.exists("b1/_SUCCESS")
    # another batch is free for bob
    assert upload(uploads, "b2", "a.csv", b"x\n3\n", owner="bob").created


def test_racing_owners_one_claims_the_batch(uploads: BatchUploads) -> None:
    for round_ in range(5):
        batch_id = f"claim-{round_}"
        barrier = threading.Barrier(2)
        outcome: dict[str, str] = {}

        def claim(
            owner: str, batch_id: str, barrier: threading.Barrier, out: dict[str, str]
        ) -> None:
            barrier.wait()
            try:
                uploads.begin(batch_id, "a.csv", owner).abort()
                out[owner] = "claimed"
            except BatchClaimed:
                out[owner] = "refused"

        run_together(claim, [(o, batch_id, barrier, outcome) for o in ("alice", "bob")])
        assert sorted(outcome.values()) == ["claimed", "refused"], outcome
        assert uploads.state(batch_id).owner == next(
            o for o, what in outcome.items() if what == "claimed"
        )


def test_two_writers_racing_one_name_one_wins_whole(
    store: Storage, uploads: BatchUploads, tmp_path: Path
) -> None:
    """Both stream the same name with other content and finish together: exactly one is
    created, the other gets ContentConflict, and the bytes stored are the winner's.

    On S3 the race is run on the ``PutObject`` path only: moto's ``CompleteMultipartUpload``
    honours ``If-None-Match: *`` against an object that already exists (412, see the
    repeat test above) but checks, then assembles the parts, without a lock, so two
    completes racing on moto both succeed (AWS makes them atomic: one gets 412/409)."""
    sizes = [1000] * 5 + ([BIG, BIG] if store.is_local else [])
    for round_, size in enumerate(sizes):
        name = f"race-{round_}.bin"
        contents = {"one": payload(size, seed=10 + round_), "two": payload(size, seed=50 + round_)}
        barrier = threading.Barrier(2)
        results: dict[str, UploadedFile | Exception] = {}

        def writer(
            who: str,
            name: str,
            data: bytes,
            barrier: threading.Barrier,
            out: dict[str, UploadedFile | Exception],
        ) -> None:
            try:
                with uploads.begin("b1", name, "alice") as up:
                    for piece in pieces(data):
                        up.write(piece)
                    barrier.wait()  # both streamed whole: finish together
                    out[who] = up.finish()
            except Exception as exc:
                out[who] = exc

        run_together(writer, [(w, name, d, barrier, results) for w, d in contents.items()])
        created = [w for w, r in results.items() if isinstance(r, UploadedFile) and r.created]
        conflicts = [w for w, r in results.items() if isinstance(r, ContentConflict)]
        assert len(created) == 1 and len(conflicts) == 1, results
        (winner,) = created
        assert store.read_bytes(f"b1/{name}") == contents[winner]
        won = results[winner]
        assert isinstance(won, UploadedFile)
        assert won.digest == blake3_of(contents[winner], tmp_path)
        assert uploads.state("b1").files[-1] == (name, size, won.digest)
    assert_nothing_left_over(store)


# ------------------------------------------------------------------------------ completion


def test_complete_writes_the_marker_aerofs_ingest_writes(
    store: Storage, uploads: BatchUploads, tmp_path: Path
) -> None:
    contents = {"orders.csv": b"id,qty\n1,2\n", "notes.txt": b"hello\n", "big.bin": payload(BIG)}
    for name, data in contents.items():
        upload(uploads, "b1", name, data)
    listed = sorted((n, len(d), blake3_of(d, tmp_path)) for n, d in contents.items())

    done = uploads.complete("b1", "alice")
    assert done.created and done.batch_id == "b1"
    assert done.files == listed
    assert done.digest == batch_digest((n, d) for n, _, d in listed)
    marker = store.read_bytes("b1/_SUCCESS")
    assert marker == marker_document("b1", listed)

    # byte for byte what `aerofs ingest` writes for the same files (but the batch id)
    src = tmp_path / "src"
    src.mkdir()
    for name, data in contents.items():
        (src / name).write_bytes(data)
    ingest([str(src)], "b2", store)
    theirs = json.loads(store.read_bytes("b2/_SUCCESS"))
    assert theirs == {**json.loads(marker), "batch_id": "b2"}
    assert store.read_bytes("b2/_SUCCESS") == marker_document("b2", listed)

    # the claim and the records are released; the sensor is told (local journal)
    assert not uploads.claimed("b1")
    assert store.list_files(f"{UPLOADS_DIR}/b1") == []
    if store.is_local:
        assert LocalScanner(store.url).read_events(None, 100).batch_ids == ["b1", "b2"]
        assert not (Path(store.url) / UPLOADS_DIR / "b1").exists()
    assert_nothing_left_over(store)

    state = uploads.state("b1")
    assert state.state == "landed" and state.files == listed and state.owner is None

    # again: a repeat, nothing rewritten or announced twice
    again = uploads.complete("b1", "alice")
    assert not again.created and again.files == listed and again.digest == done.digest
    # ... by anyone, with the right file list too
    same = uploads.complete("b1", "bob", expected={n: d for n, _, d in listed})
    assert not same.created
    with pytest.raises(BatchComplete):
        uploads.complete("b1", "alice", expected={"orders.csv": listed[2][2]})
    assert store.read_bytes("b1/_SUCCESS") == marker
    if store.is_local:
        assert LocalScanner(store.url).read_events(None, 100).batch_ids == ["b1", "b2"]


def test_complete_checks_the_file_list_the_client_expects(
    store: Storage, uploads: BatchUploads
) -> None:
    a = upload(uploads, "b1", "a.csv", b"x\n1\n")
    b = upload(uploads, "b1", "b.csv", b"x\n2\n")
    wrong = [
        {"a.csv": a.digest},  # b.csv not expected
        {"a.csv": a.digest, "b.csv": b.digest, "c.csv": b.digest},  # c.csv missing
        {"a.csv": a.digest, "b.csv": a.digest},  # other content
    ]
    for expected in wrong:
        with pytest.raises(FileListMismatch, match="nothing was completed") as caught:
            uploads.complete("b1", "alice", expected=expected)
        assert caught.value.code == "FILE_LIST_MISMATCH"
        assert not store.exists("b1/_SUCCESS")
        assert uploads.claimed("b1")  # still the owner's, who can fix it
    done = uploads.complete("b1", "alice", expected={"a.csv": a.digest, "b.csv": b.digest})
    assert done.created and [n for n, _, _ in done.files] == ["a.csv", "b.csv"]


def test_a_batch_with_nothing_uploaded_cannot_complete(
    store: Storage, uploads: BatchUploads
) -> None:
    with pytest.raises(NothingUploaded):
        uploads.complete("b1", "alice")
    uploads.begin("b1", "a.csv", "alice").abort()  # claimed, no file
    with pytest.raises(NothingUploaded) as caught:
        uploads.complete("b1", "alice")
    assert caught.value.code == "NOTHING_UPLOADED"
    assert not store.exists("b1/_SUCCESS")


def test_a_complete_batch_takes_no_more_files(store: Storage, uploads: BatchUploads) -> None:
    upload(uploads, "b1", "a.csv", b"x\n1\n")
    late = uploads.begin("b1", "late.csv", "alice")  # begun before completion
    late.write(b"x\n9\n")
    uploads.complete("b1", "alice")

    with pytest.raises(BatchComplete, match="new batch") as caught:
        uploads.begin("b1", "b.csv", "alice")
    assert caught.value.code == "BATCH_COMPLETE"
    with pytest.raises(BatchComplete):
        uploads.begin("b1", "a.csv", "bob")
    with pytest.raises(BatchComplete):
        late.finish()
    assert data_files(store, "b1") == ["_SUCCESS", "a.csv"]
    assert not uploads.claimed("b1")  # no claim taken again
    assert_nothing_left_over(store)


def test_aerofs_ingest_refuses_a_batch_being_uploaded(
    store: Storage, uploads: BatchUploads, tmp_path: Path
) -> None:
    upload(uploads, "b1", "a.csv", b"x\n1\n")
    before = [(f.key, f.size) for f in store.list_files("b1")]
    src = tmp_path / "other.csv"
    src.write_text("y\n2\n")
    with pytest.raises(BatchInFlightError, match="over HTTP"):
        ingest([str(src)], "b1", store)
    assert [(f.key, f.size) for f in store.list_files("b1")] == before
    assert store.read_bytes("b1/a.csv") == b"x\n1\n"
    assert not store.exists("b1/_SUCCESS")

    uploads.complete("b1", "alice")
    with pytest.raises(BatchExistsError, match="already complete"):
        ingest([str(src)], "b1", store)
    assert store.read_bytes("b1/a.csv") == b"x\n1\n"


def test_state_follows_the_batch(store: Storage, uploads: BatchUploads, tmp_path: Path) -> None:
    assert uploads.state("b1").state == "absent"
    assert uploads.state("b1").files == []

    before = dt.datetime.now(dt.UTC)
    uploads.begin("b1", "a.csv", "alice").abort()
    claimed = uploads.state("b1")
    assert (claimed.state, claimed.files, claimed.owner) == ("uploading", [], "alice")
    assert claimed.started is not None
    assert before - dt.timedelta(seconds=1) <= dt.datetime.fromisoformat(claimed.started)

    a = upload(uploads, "b1", "a.csv", b"x\n1\n")
    uploading = uploads.state("b1")
    assert uploading.state == "uploading" and uploading.owner == "alice"
    assert uploading.files == [("a.csv", 4, a.digest)]

    uploads.complete("b1", "alice")
    landed = uploads.state("b1")
    assert (landed.state, landed.files, landed.owner) == ("landed", [("a.csv", 4, a.digest)], None)

    # another tool's empty marker: the batch is what is there (digests unknown)
    store.write_bytes("b2/x.csv", b"x\n")
    store.write_bytes("b2/_SUCCESS", b"")
    other = uploads.state("b2")
    assert (other.state, other.files) == ("landed", [("x.csv", 2, None)])
    assert parse_marker(store.read_bytes("b2/_SUCCESS")) is None


# ------------------------------------------------------------------------------ clean-up


def test_remove_abandoned_removes_old_incomplete_uploads_only(
    store: Storage, uploads: BatchUploads
) -> None:
    upload(uploads, "old", "a.csv", b"x\n1\n", owner="alice")
    upload(uploads, "old", "b.csv", payload(BIG), owner="alice")
    upload(uploads, "done", "a.csv", b"x\n2\n", owner="bob")
    uploads.complete("done", "bob")
    uploads.record("done", "a.csv", 4, "left-by-a-writer-that-died")  # after the marker
    store.write_bytes("ingested/x.csv", b"x\n")  # not an upload: never looked at

    # a writer that died mid-stream: a staged file locally, a multipart upload on S3.
    # (moto lists every multipart upload as initiated on 2010-11-10, so on S3 it is left
    # only after the run below, which would otherwise take it for an old one)
    def dead_writer() -> NewObject:
        dead = store.create_new("old/c.bin", staging=STAGING_DIR)
        dead.write(payload(STREAM_PART_BYTES + 1))
        assert len(staged_files(store)) + len(pending_multipart(store)) == 1
        return dead

    if store.is_local:
        dead = dead_writer()

    # everything is recent: kept
    kept = remove_abandoned(store, older_than=dt.timedelta(hours=24))
    assert (kept.batches, kept.files, kept.staged, kept.multipart) == ([], 0, 0, 0)
    assert data_files(store, "old") == ["a.csv", "b.csv"] and uploads.claimed("old")
    assert store.list_files(f"{UPLOADS_DIR}/done") == []  # a completed batch's records go
    if not store.is_local:
        dead = dead_writer()
    assert len(staged_files(store)) + len(pending_multipart(store)) == 1

    # two days on
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=48)
    removed = remove_abandoned(store, older_than=dt.timedelta(hours=24), now=later)
    assert removed.batches == ["old"] and removed.files == 2
    assert (removed.staged, removed.multipart) == ((0, 1) if not store.is_local else (1, 0))
    assert data_files(store, "old") == []
    assert not uploads.claimed("old")
    assert uploads.state("old").state == "absent"
    assert_nothing_left_over(store)
    # the completed batch keeps its files; its leftover records go
    assert data_files(store, "done") == ["_SUCCESS", "a.csv"]
    assert store.read_bytes("done/a.csv") == b"x\n2\n"
    assert store.list_files(UPLOADS_DIR) == []
    assert store.read_bytes("ingested/x.csv") == b"x\n"

    # the dead writer's handle, if it ever comes back, aborts quietly
    dead.abort()
    # the id is free again: anyone can upload it anew
    assert upload(uploads, "old", "a.csv", b"x\n3\n", owner="carol").created
    assert uploads.state("old").owner == "carol"

    # nothing left: a further run removes nothing
    quiet = remove_abandoned(store, older_than=dt.timedelta(hours=24))
    assert (quiet.batches, quiet.files, quiet.staged, quiet.multipart) == ([], 0, 0, 0)


def test_remove_abandoned_judges_each_batch_by_its_newest_file(tmp_path: Path) -> None:
    """Locally the ages are the files' mtimes: a batch one of whose files is recent is
    kept, one whose every file and record is old is removed, in the same run."""
    store = LocalStorage(tmp_path / "landing")
    uploads = BatchUploads(store, max_bytes=MAX_BYTES)
    for batch_id in ("stale", "active"):
        upload(uploads, batch_id, "a.csv", b"x\n1\n")
        upload(uploads, batch_id, "b.csv", b"x\n2\n")
    dead = store.create_new("stale/c.bin", staging=STAGING_DIR)
    dead.write(b"partial")
    fresh = store.create_new("active/c.bin", staging=STAGING_DIR)
    fresh.write(b"partial")
    old = time.time() - 3 * 86400
    root = Path(store.url)
    for path in [*(root / "stale").iterdir(), *(root / UPLOADS_DIR / "stale").rglob("*")]:
        os.utime(path, (old, old))
    for path in [root / "active" / "a.csv", *(root / UPLOADS_DIR / "active").rglob("*")]:
        os.utime(path, (old, old))  # but b.csv: recent, so the batch is alive
    os.utime(dead.staged, (old, old))  # type: ignore[attr-defined]

    removed = remove_abandoned(store, older_than=dt.timedelta(hours=24))
    assert (removed.batches, removed.files, removed.staged) == (["stale"], 2, 1)
    assert data_files(store, "stale") == [] and not uploads.claimed("stale")
    assert data_files(store, "active") == ["a.csv", "b.csv"] and uploads.claimed("active")
    assert staged_files(store) == [f"{STAGING_DIR}/{fresh.staged.name}"]  # type: ignore[attr-defined]
    fresh.abort()
    dead.abort()
    assert_nothing_left_over(store)
