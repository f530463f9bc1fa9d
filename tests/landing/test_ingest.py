"""`aerofs ingest PATH... --batch ID`: files land as one complete batch, marker last."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aerofs_pipelines import cli
from aerofs_pipelines.lake.storage import LocalStorage, S3Storage, open_storage


@pytest.fixture
def files(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "folder" / "deep").mkdir(parents=True)
    (src / "a.csv").write_text("x,y\n1,2\n")
    (src / "folder" / "b.txt").write_text("hello world\n")
    (src / "folder" / "deep" / "c.md").write_text("# c\n")
    return src


def test_ingest_local_writes_marker_last(
    files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    landing = tmp_path / "landing"
    order: list[str] = []
    real_put, real_write = LocalStorage.put_file, LocalStorage.write_bytes

    def put(self: LocalStorage, local: str, key: str) -> None:
        assert not (landing / "b1" / "_SUCCESS").exists()
        order.append(key)
        real_put(self, local, key)

    def write(self: LocalStorage, key: str, data: bytes) -> None:
        order.append(key)
        real_write(self, key, data)

    monkeypatch.setattr(LocalStorage, "put_file", put)
    monkeypatch.setattr(LocalStorage, "write_bytes", write)
    monkeypatch.setenv("AEROFS_LANDING", str(landing))
    argv = ["ingest", str(files / "a.csv"), str(files / "folder"), "--batch", "b1", "--json"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in out["files"]] == ["a.csv", "b.txt", "deep/c.md"]
    assert out["bytes"] == 8 + 12 + 4
    assert order == ["b1/a.csv", "b1/b.txt", "b1/deep/c.md", "b1/_SUCCESS"]
    assert (landing / "b1" / "deep" / "c.md").read_text() == "# c\n"
    assert not [p for p in landing.rglob("*") if ".tmp-" in p.name]
    # the landing sensor's journal learns about the batch
    journal = "".join(p.read_text() for p in (landing / "_aerofs" / "events").glob("*.log"))
    assert journal.splitlines() == ["b1"]


def test_ingest_refuses_a_complete_batch_and_bad_input(
    files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    landing = str(tmp_path / "landing")
    assert cli.main(["ingest", str(files / "a.csv"), "--batch", "b1", "--landing", landing]) == 0
    assert "b1: 1 file(s)" in capsys.readouterr().out

    cases = {
        "already complete": ["ingest", str(files / "a.csv"), "--batch", "b1"],
        "invalid batch id": ["ingest", str(files / "a.csv"), "--batch", "../evil"],
        "No such file": ["ingest", str(tmp_path / "missing.csv"), "--batch", "b2"],
        "would both be": ["ingest", str(files / "a.csv"), str(files / "a.csv"), "--batch", "b3"],
        "reserved": [
            "ingest",
            str(files / "a.csv"),
            str(Path(landing) / "b1" / "_SUCCESS"),
            "--batch",
            "b4",
        ],
    }
    for expected, argv in cases.items():
        assert cli.main([*argv, "--landing", landing]) == 1, expected
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err
    assert sorted(p.name for p in Path(landing).iterdir()) == ["_aerofs", "b1"]
    assert not (tmp_path / "evil").exists()


def test_ingest_refuses_links_and_special_files_in_a_folder(
    files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder's symlinks (to files or folders) and pipes are refused, never followed."""
    landing = str(tmp_path / "landing")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("x\n1\n")
    cases = {
        "link.csv": lambda p: p.symlink_to(outside / "secret.csv"),
        "linked_dir": lambda p: p.symlink_to(outside, target_is_directory=True),
        "pipe.csv": os.mkfifo,
    }
    for i, (name, make) in enumerate(cases.items()):
        folder = tmp_path / f"src{i}"
        folder.mkdir()
        (folder / "a.csv").write_text("x\n1\n")
        make(folder / name)
        assert cli.main(["ingest", str(folder), "--batch", f"b{i}", "--landing", landing]) == 1
        err = capsys.readouterr().err
        assert f"{folder / name}: " in err and err.count("\n") == 1, err
        assert not (Path(landing) / f"b{i}").exists()


def test_ingest_clears_an_interrupted_attempt(files: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "b1").mkdir(parents=True)
    (landing / "b1" / "stale.csv").write_text("left over\n")
    assert (
        cli.main(["ingest", str(files / "a.csv"), "--batch", "b1", "--landing", str(landing)]) == 0
    )
    assert sorted(p.name for p in (landing / "b1").iterdir()) == ["_SUCCESS", "a.csv"]


def test_ingest_into_s3(files: Path, s3_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"s3://{s3_env}/landing"
    assert cli.main(["ingest", str(files), "--batch", "s3-1", "--landing", url]) == 0
    store = open_storage(url)
    assert isinstance(store, S3Storage)
    assert [f.key for f in store.list_files("s3-1")] == [
        "s3-1/_SUCCESS",
        "s3-1/a.csv",
        "s3-1/folder/b.txt",
        "s3-1/folder/deep/c.md",
    ]
    assert store.read_bytes("s3-1/folder/b.txt") == b"hello world\n"
    capsys.readouterr()
    assert cli.main(["ingest", str(files), "--batch", "s3-1", "--landing", url]) == 1
    assert "already complete" in capsys.readouterr().err


def test_ingest_modules_import_only_the_standard_library() -> None:
    code = (
        "import sys, aerofs_pipelines.landing.ingest, aerofs_pipelines.cli.ingest;"
        "heavy = {'dagster', 'boto3', 'pyarrow'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
