"""Storage: one interface over a local folder and an S3 prefix (a real moto server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aerofs_pipelines.lake import storage as storage_mod
from aerofs_pipelines.lake.storage import (
    LocalStorage,
    S3Storage,
    Storage,
    UnsafePathError,
    create_local_file,
    local_path,
    open_storage,
    safe_key,
)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "root")
    else:
        bucket = request.getfixturevalue("s3_env")
        yield open_storage(f"s3://{bucket}/some/prefix")


def test_open_storage_picks_the_backend(tmp_path: Path, s3_env: str) -> None:
    assert isinstance(open_storage(str(tmp_path)), LocalStorage)
    s3 = open_storage(f"s3://{s3_env}/p/")
    assert isinstance(s3, S3Storage)
    assert s3.uri("a/b.csv") == f"s3://{s3_env}/p/a/b.csv"
    with pytest.raises(ValueError, match="unsupported"):
        open_storage("gs://bucket/x")


def test_roundtrip(store: Storage, tmp_path: Path) -> None:
    store.write_bytes("b1/orders.csv", b"a,b\n1,2\n")
    store.write_bytes("b1/sub/notes.txt", b"hello")
    store.write_bytes("b2/_SUCCESS", b"")
    src = tmp_path / "local.bin"
    src.write_bytes(b"x" * 1000)
    store.put_file(src, "b3/data.bin")

    assert store.read_bytes("b1/orders.csv") == b"a,b\n1,2\n"
    assert store.exists("b1/sub/notes.txt")
    assert not store.exists("b1/missing.txt")
    assert not store.exists("b1")  # a folder is not a file
    assert [(f.key, f.size) for f in store.list_files("b1")] == [
        ("b1/orders.csv", 8),
        ("b1/sub/notes.txt", 5),
    ]
    assert [f.key for f in store.list_files()] == [
        "b1/orders.csv",
        "b1/sub/notes.txt",
        "b2/_SUCCESS",
        "b3/data.bin",
    ]
    assert store.list_files("nothing-here") == []
    assert store.list_dirs() == ["b1", "b2", "b3"]
    assert store.list_dirs(start_after="b1") == ["b2", "b3"]
    assert store.list_dirs(limit=2) == ["b1", "b2"]
    assert store.list_dirs("b1") == ["sub"]
    with store.local_path("b3/data.bin") as path:
        assert path.read_bytes() == b"x" * 1000
        assert path.name == "data.bin"
    with pytest.raises(FileNotFoundError), store.local_path("b3/missing.bin"):
        pass
    with pytest.raises(FileNotFoundError):
        store.read_bytes("nope")
    store.write_bytes("b1/orders.csv", b"replaced")
    assert store.read_bytes("b1/orders.csv") == b"replaced"
    store.delete("b1/orders.csv")
    store.delete("b1/orders.csv")  # missing is fine
    assert not store.exists("b1/orders.csv")


@pytest.mark.parametrize(
    "key", ["../escape", "/etc/passwd", "a/../../b", "a//b", "./a", "a\\b", "a\x00b", ""]
)
def test_unsafe_keys_are_refused(store: Storage, key: str, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    with pytest.raises(UnsafePathError):
        store.write_bytes(key, b"x")
    with pytest.raises(UnsafePathError):
        store.read_bytes(key)
    with pytest.raises(UnsafePathError):
        store.put_file(src, key)
    with pytest.raises(UnsafePathError):
        store.exists(key)
    assert not (tmp_path.parent / "escape").exists()


def test_safe_key_normalises() -> None:
    assert safe_key("a/b/") == "a/b"
    assert safe_key("", allow_empty=True) == ""
    assert safe_key("batch=1/x.parquet") == "batch=1/x.parquet"


def test_local_symlinks_out_of_the_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (root / "b1").mkdir(parents=True)
    (root / "b1" / "ok.txt").write_text("fine")
    os.symlink(secret, root / "b1" / "leak.txt")
    os.symlink(root / "b1" / "ok.txt", root / "b1" / "alias.txt")  # inside: allowed
    os.symlink(tmp_path, root / "b1" / "dirlink")
    os.symlink(tmp_path, root / "escape")
    store = LocalStorage(root)

    listed = {f.key: f.problem for f in store.list_files("b1")}
    assert listed["b1/ok.txt"] is None
    assert listed["b1/alias.txt"] is None
    assert "outside" in str(listed["b1/leak.txt"])
    assert listed["b1/dirlink"] is not None  # flagged, not followed, not dropped
    with pytest.raises(UnsafePathError, match="outside"):
        store.read_bytes("b1/leak.txt")
    with pytest.raises(UnsafePathError), store.local_path("b1/leak.txt"):
        pass
    assert not store.exists("b1/leak.txt")
    assert store.read_bytes("b1/alias.txt") == b"fine"
    # a symlinked folder cannot be used to write (or read) outside the root
    with pytest.raises(UnsafePathError):
        store.write_bytes("escape/planted.txt", b"x")
    with pytest.raises(UnsafePathError):
        store.read_bytes("escape/secret.txt")
    assert not (tmp_path / "planted.txt").exists()
    assert store.list_files("escape") == []


def test_local_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStorage(tmp_path / "lake")
    store.write_bytes("t/data.parquet", b"old content")
    src = tmp_path / "big.bin"
    src.write_bytes(b"n" * 100_000)

    def half_then_fail(a: str, b: str) -> None:
        Path(b).write_bytes(Path(a).read_bytes()[:50_000])
        # a reader at this moment still sees the old, complete file
        assert store.read_bytes("t/data.parquet") == b"old content"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage_mod.shutil, "copyfile", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        store.put_file(src, "t/data.parquet")
    assert store.read_bytes("t/data.parquet") == b"old content"
    assert sorted(p.name for p in (tmp_path / "lake" / "t").iterdir()) == ["data.parquet"]

    def fail_replace(a: str, b: str) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(storage_mod.os, "replace", fail_replace)
    with pytest.raises(OSError):
        store.write_bytes("t/new.json", b"{}")
    assert sorted(p.name for p in (tmp_path / "lake" / "t").iterdir()) == ["data.parquet"]


def test_s3_multipart_upload_is_all_or_nothing(
    s3_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_mod, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)
    store = open_storage(f"s3://{s3_env}/lake")
    assert isinstance(store, S3Storage)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(1024) * (11 * 1024))  # 11 MiB: three parts

    store.put_file(src, "big.bin")
    assert store.read_bytes("big.bin") == src.read_bytes()

    calls = {"parts": 0}

    def fail_second_part(**kwargs: object) -> None:
        calls["parts"] += 1
        if calls["parts"] >= 2:
            raise ConnectionError("network down")

    events = store.client.meta.events
    events.register("before-call.s3.UploadPart", fail_second_part, unique_id="aerofs-test")
    try:
        with pytest.raises(Exception, match="network down"):
            store.put_file(src, "broken.bin")
    finally:
        events.unregister("before-call.s3.UploadPart", unique_id="aerofs-test")
    assert not store.exists("broken.bin")
    uploads = store.client.list_multipart_uploads(Bucket=s3_env).get("Uploads", [])
    assert uploads == []  # aborted, not left pending


def test_create_local_file_writes_its_parts_once(tmp_path: Path) -> None:
    """``create_local_file``: the parts in order, in a folder it makes; an existing file
    is refused and left as it was."""
    path = tmp_path / "new" / "metadata" / "v1.json"
    create_local_file(str(path), [b'{"a":', b"", b"1}"])
    assert path.read_bytes() == b'{"a":1}'
    with pytest.raises(FileExistsError):
        create_local_file(str(path), [b"other"])
    assert path.read_bytes() == b'{"a":1}'
    big = [os.urandom(3 * 2**20), os.urandom(5)]  # more than one write may take
    create_local_file(str(tmp_path / "big"), big)
    assert (tmp_path / "big").read_bytes() == b"".join(big)


def test_local_path_reads_paths_and_file_uris() -> None:
    assert local_path("/lake/x.json") == "/lake/x.json"
    assert local_path("file:///lake/x.json") == "/lake/x.json"
    assert local_path("s3://bucket/x.json") is None
