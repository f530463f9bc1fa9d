"""Bad input: the generated corpus (``tests/support/bad_corpus.py``) through the kernels and
through a real batch run.

* Every kernel, on every corpus file, in a child process: each call succeeds or raises the
  package's ``KernelError`` (with file, and line/column where the problem has a place) or
  an ``OSError`` for what is not a readable file -- never a panic, never a crash.
* The whole corpus plus the sample batch's good files land as ONE batch; the real landing
  sensor registers it and the run goes through ``dagster job execute`` in its own process
  (a segfault or abort would fail it). The run succeeds; the manifest accounts for every
  file with a readable reason; the good files' Parquet is complete; nothing behind a
  symlink out of the landing zone is ever read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

from aerofs_pipelines import sample_data
from aerofs_pipelines.batch.errors import describe_error
from aerofs_pipelines.batch.manifest import _output_name_problem, _probe_text, build_manifest
from aerofs_pipelines.kernels.errors import InputFormatError
from aerofs_pipelines.lake.layout import MAX_OUTPUT_NAME_BYTES
from aerofs_pipelines.lake.storage import open_storage
from aerofs_pipelines.registry import load_registry
from tests.support.bad_corpus import (
    LONG_LINE_BYTES,
    OUTSIDE_CONTENT,
    BadFile,
    corpus_entries,
    make_corpus,
)
from tests.support.pipeline import product_defs, product_instance, tick

REPO = Path(__file__).resolve().parents[2]
BATCH = "corpus-1"
GOOD = {"orders.csv": 199, "notes.txt": None}
"""The sample batch's good files landed with the corpus (orders.csv: 199 good rows)."""
PASSWD_MARK = b"root:x:0:0"
TRACEBACK_NOISE = ("Traceback", 'File "', "<class ", "object at 0x", "Error(", "\\x")


@dataclass(frozen=True)
class Corpus:
    folder: Path
    outside: Path
    entries: list[BadFile]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("corpus")
    folder = root / "landing" / "files"  # batch "files"; "outside" is out of the landing zone
    entries = make_corpus(folder, root / "outside")
    (folder / "_SUCCESS").write_bytes(b"")
    return Corpus(folder, root / "outside", entries)


def manifest_name(entry: BadFile) -> str:
    """The entry's name in the manifest (a folder's file keeps its path in the batch)."""
    return f"{entry.name}/inner.csv" if entry.kind == "dir" else entry.name


def test_corpus_is_big_enough_and_described() -> None:
    entries = corpus_entries()
    assert len(entries) >= 30
    assert len({e.name for e in entries}) == len(entries)
    for e in entries:
        assert e.description and e.expect in ("processed", "quarantined", "skipped", "any")
    kinds = {e.kind for e in entries}
    assert {"file", "symlink", "fifo", "dir"} <= kinds


# --------------------------------------------------------------------------- kernels


def test_kernels_raise_clean_errors_on_every_corpus_file(corpus: Corpus) -> None:
    """Each kernel on each file, in a child process: a result or a clean, located error."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.kernel_probe", str(corpus.folder)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"the kernel process crashed ({proc.returncode}): {proc.stderr}"
    reports = {r["name"]: r for r in map(json.loads, proc.stdout.splitlines())}
    probed = {e.name for e in corpus.entries if e.kind != "fifo"}
    assert probed <= set(reports)

    problems: list[str] = []
    for name, report in reports.items():
        for op, out in report.items():
            if op == "name" or out["ok"]:
                continue
            where = f"{name!r} {op}: {out['type']}: {out['message']}"
            if out["type"] in ("PanicException", "KernelInternalError"):
                problems.append(f"panic {where}")
            elif out["kernel_error"]:
                if out["type"] != "InputFormatError" or not out["reason"]:
                    problems.append(f"unexpected kernel error {where}")
                if not out["message"].startswith(str(corpus.folder / name)):
                    problems.append(f"message does not name the file: {where}")
            elif op == "read_rows":
                # Errors while streaming come through the Arrow C stream as ArrowInvalid,
                # carrying the same "path:line:column: reason" text.
                located = re.search(
                    re.escape(str(corpus.folder / name)) + r":\d+:\d+: ", out["message"]
                )
                if out["type"] != "ArrowInvalid" or not located:
                    problems.append(f"unlocated stream error {where}")
            elif out["type"] not in ("FileNotFoundError", "IsADirectoryError"):
                problems.append(f"unexpected exception {where}")
    assert problems == []

    def err(name: str, op: str = "convert_fail") -> tuple[int | None, int | None]:
        out = reports[name][op]
        assert not out["ok"], f"{name} {op} should fail"
        return out["line"], out["column"]

    # row-level problems say exactly where (line, field)
    assert err("ragged_rows.csv") == (3, 3)
    assert err("unterminated_quote_body.csv") == (3, 2)
    assert err("invalid_utf8_body.csv") == (2, 2)
    assert err("orders_overflow.csv") == (3, 1)
    assert err("invalid_utf8_header.csv") == (1, 2)
    assert err("unterminated_quote_header.csv") == (1, 2)
    assert err("nul_only.csv") == (1, 1)
    assert err("utf16_no_bom.csv") == (1, 1)
    # ...and in quarantine mode the same rows are set aside, the rest converted
    assert reports["ragged_rows.csv"]["convert_quarantine"]["result"] == {
        "rows": 2,
        "rejected_rows": 2,
    }
    assert reports["orders_overflow.csv"]["convert_quarantine"]["result"] == {
        "rows": 2,
        "rejected_rows": 3,  # int64 overflow, uint64 overflow, 1e999: never inf
    }
    for name, words in (
        ("gzip_named.csv", "gzip-compressed data, not CSV text"),
        ("zip_named.csv", "zip archive, not CSV text"),
        ("bom_utf16le.csv", "UTF-16LE text"),
        ("bom_utf16be.csv", "UTF-16BE text"),
        ("binary_random.csv", "binary content"),
    ):
        assert words in reports[name]["convert_quarantine"]["message"], name
    # UTF-16 read as UTF-8 (the default dialect) is refused with the way to read it
    assert "encoding utf-16le" in reports["bom_utf16le.csv"]["convert_fail"]["message"]
    # an empty file is an empty table, not an error
    assert reports["zero_bytes.csv"]["convert_quarantine"]["result"] == {
        "rows": 0,
        "rejected_rows": 0,
    }
    wide = reports["wide_10000_columns.csv"]["convert_fail"]
    assert wide["ok"] and wide["result"]["rows"] == 3
    long_line = reports["long_line_50mb.csv"]["convert_fail"]
    assert long_line["ok"] and long_line["result"]["rows"] == 1
    assert reports["long_line_50mb.csv"]["analyze"]["result"]["bytes"] == LONG_LINE_BYTES + 13


@pytest.mark.parametrize("op", ["convert", "read", "analyze"])
def test_fifty_megabyte_line_memory_is_bounded(corpus: Corpus, op: str) -> None:
    """There is no line-length limit: a 50 MB record is processed, in memory bounded by a
    small multiple of the record (the chunk, its fields, the Arrow column, the page)."""
    path = corpus.folder / "long_line_50mb.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.kernel_probe", "--memory", str(path), op],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    grown = int(proc.stdout.strip())
    assert grown < 8 * LONG_LINE_BYTES, f"{op}: peak RSS grew by {grown / 2**20:.0f} MiB"


# --------------------------------------------------------------------------- product fixes


def test_text_probe_refuses_compressed_and_binary(tmp_path: Path) -> None:
    cases = {
        "gz.txt": (b"\x1f\x8b\x08\x00" + b"\x00" * 20, "gzip-compressed data, not text"),
        "u16.txt": (b"\xff\xfeh\x00i\x00", "UTF-16LE text"),
        "bin.txt": (b"\x00\xff\xfe\x00\x80abc", "binary content"),
    }
    for name, (data, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputFormatError, match=words):
            _probe_text(tmp_path / name)
    fine = {"ok.txt": b"plain words \xff stray byte", "nul.txt": b"text\x00with nul", "e.txt": b""}
    for name, data in fine.items():
        (tmp_path / name).write_bytes(data)
        _probe_text(tmp_path / name)  # text, however odd: analysed, invalid bytes counted
    # a multi-byte sequence cut by the 4 KiB sample is not "binary"
    (tmp_path / "cut.txt").write_bytes(b"\x00" + b"a" * 4094 + "é".encode())
    _probe_text(tmp_path / "cut.txt")


def test_output_names_too_long_are_quarantined_not_crashing() -> None:
    ok = "n" * 100 + ".csv"
    assert _output_name_problem(ok, f"tables/d/batch=b/{ok[:-4]}.parquet", "d", "b") is None
    long = "n" * 200 + ".csv"
    reason = _output_name_problem(long, f"tables/d/batch=b/{long[:-4]}.parquet", "d", "b")
    assert reason is not None and reason.startswith(f"{long}: file name too long")
    assert str(MAX_OUTPUT_NAME_BYTES) in reason
    # the rejects name is longer than the table's: it counts too
    edge = "n" * (MAX_OUTPUT_NAME_BYTES - 10) + ".csv"
    assert _output_name_problem(edge, f"tables/d/batch=b/{edge[:-4]}.parquet", "d", "b")
    deep = "/".join(["folder"] * 120) + "/x.txt"
    reason = _output_name_problem(deep, f"text_stats/batch=b/{deep}.json", None, "b")
    assert reason is not None and "path too long" in reason


def test_describe_error_always_names_the_file() -> None:
    assert describe_error(ValueError("C Data interface error: boom"), "a.csv") == (
        "a.csv: C Data interface error: boom"
    )
    assert describe_error(ValueError("a.csv: already named"), "a.csv") == "a.csv: already named"
    assert describe_error(IsADirectoryError(21, "Is a directory"), "d.csv") == (
        "d.csv: Is a directory"
    )


def test_local_listing_flags_pipes_and_unsafe_names(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    (root / "b").mkdir(parents=True)
    os.mkfifo(root / "b" / "pipe.csv")
    (root / "b" / "a\\..\\x.csv").write_text("a\n1\n")
    (root / "b" / "fine.csv").write_text("a\n1\n")
    listed = {f.key: f.problem for f in open_storage(str(root)).list_files("b")}
    assert listed["b/fine.csv"] is None
    assert listed["b/pipe.csv"] == "not a regular file (a named pipe): not read"
    assert listed["b/a\\..\\x.csv"] == (
        "unsafe name, never read: NUL and backslash are not allowed"
    )


# --------------------------------------------------------------------------- a batch run


@pytest.fixture
def embedded_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name in ("AEROFS_PG_URL", "DAGSTER_PG_HOST", "AEROFS_DATASETS", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "DAGSTER_HOME": str(tmp_path / "home"),
        "AEROFS_LANDING": str(tmp_path / "landing"),
        "AEROFS_LAKE": str(tmp_path / "lake"),
        "AEROFS_SWEEP_INTERVAL": "0",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    yield env


def run_in_subprocess(env: dict[str, str], partition: str) -> subprocess.CompletedProcess[str]:
    """``dagster job execute`` of the product's process_batch for ``partition``."""
    cmd = [
        str(Path(sys.executable).with_name("dagster")),
        "job",
        "execute",
        "-m",
        "aerofs_pipelines.definitions",
        "-a",
        "defs",
        "-j",
        "process_batch",
        "--tags",
        json.dumps({"dagster/partition": partition}),
    ]
    return subprocess.run(
        cmd, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=600
    )


def lake_bytes(lake: Path) -> dict[str, bytes]:
    return {
        p.relative_to(lake).as_posix(): p.read_bytes()
        for p in lake.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def test_corpus_batch_run_accounts_for_every_file(
    embedded_env: dict[str, str], tmp_path: Path
) -> None:
    landing, lake = Path(embedded_env["AEROFS_LANDING"]), Path(embedded_env["AEROFS_LAKE"])
    entries = make_corpus(landing / BATCH, tmp_path / "outside")
    sample_data.write_sample_batch(landing, BATCH)  # orders.csv, notes.txt, then _SUCCESS
    assert (landing / BATCH / "_SUCCESS").exists()

    # the real landing sensor finds and registers the batch (a folder written by another tool)
    instance = product_instance(Path(embedded_env["DAGSTER_HOME"]))
    try:
        requests, added, _ = tick(product_defs(), instance, None)
        assert added == [BATCH] and [r.partition_key for r in requests] == [BATCH]

        proc = run_in_subprocess(embedded_env, BATCH)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": BATCH}))
        assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
    finally:
        instance.dispose()

    manifest = json.loads((lake / "manifests" / f"{BATCH}.json").read_bytes())
    files = {f["name"]: f for f in manifest["files"]}
    expected_names = {manifest_name(e) for e in entries} | set(GOOD) | {"_SUCCESS"}
    assert set(files) == expected_names, "every landed file, and only those, in the manifest"
    assert sum(manifest["counts"].values()) == len(files)

    # the final outcome of each table / text file, as the run recorded it
    outcomes: dict[str, dict[str, Any]] = {}
    for asset in ("tables", "text_stats"):
        for row in pq.read_table(lake / "_dagster" / asset / f"{BATCH}.parquet").to_pylist():
            outcomes[row["file"]] = row

    landing_root, problems = str(landing), []
    for entry in entries:
        name = manifest_name(entry)
        f = files[name]
        status, reason = f["status"], f["reason"]
        what = f"{name!r} ({entry.description}): {status}: {reason}"
        if entry.expect == "any":
            ok = status in ("processed", "quarantined")
        else:
            ok = status == entry.expect
        if not ok:
            problems.append(f"expected {entry.expect}: {what}")
        if not reason.strip() or "\n" in reason.replace(name, ""):
            problems.append(f"empty or multi-line reason: {what}")
        if any(noise in reason.replace(name, "") for noise in TRACEBACK_NOISE):
            problems.append(f"traceback/repr noise: {what}")
        if landing_root in reason or str(tmp_path) in reason or "/tmp/" in reason:
            problems.append(f"a local path in the reason: {what}")
        if status == "quarantined" and name not in reason:
            problems.append(f"the reason does not name the file: {what}")
        if status == "processed" and f["kind"] in ("table", "text"):
            final = outcomes.get(name)
            if final is None or final["status"] != "processed":
                problems.append(f"manifest says processed, the run says {final}: {what}")
            elif not (lake / final["output"]).is_file():
                problems.append(f"no output {final['output']}: {what}")
            elif f["kind"] == "table" and entry.rows is not None:
                rows = pq.read_metadata(lake / final["output"]).num_rows
                if rows != entry.rows:
                    problems.append(f"{rows} rows, expected {entry.rows}: {what}")
        if status != "processed" and (f["output"] or name in outcomes):
            problems.append(f"not processed, yet an output: {what}")
    assert problems == []

    # specific reasons people will read
    assert "compressed" in files["gzip_named.csv"]["reason"]
    assert "not CSV text" in files["gzip_named.csv"]["reason"]
    for link in ("symlink_etc_passwd.csv", "symlink_outside.csv", "symlink_outside.txt"):
        assert "symbolic link points outside" in files[link]["reason"]
        assert files[link]["digest"] is None  # never opened
    assert "named pipe" in files["named_pipe.csv"]["reason"]
    assert "file name too long" in files[_long_name(entries)]["reason"]

    # the good files: processed, complete
    assert files["orders.csv"]["status"] == files["notes.txt"]["status"] == "processed"
    orders = pq.read_table(lake / files["orders.csv"]["output"])
    assert orders.num_rows == GOOD["orders.csv"]
    assert (lake / "text_stats" / f"batch={BATCH}" / "notes.txt.json").is_file()
    assert (
        json.loads((lake / "text_stats" / f"batch={BATCH}" / "notes.txt.json").read_bytes())[
            "lines"
        ]
        == 122
    )

    # nothing behind a link out of the landing zone reached the lake
    everything = lake_bytes(lake)
    assert not [k for k, v in everything.items() if OUTSIDE_CONTENT.splitlines()[1] in v]
    assert not [k for k, v in everything.items() if PASSWD_MARK in v]
    # and the lake holds only the documented layout, nothing left half-written
    top = {k.split("/", 1)[0] for k in everything}
    assert top <= {
        "tables",
        "rejects",
        "unregistered",
        "text_stats",
        "manifests",
        "_dagster",
        "catalog",
    }
    assert not [k for k in everything if ".tmp-" in k]

    summary = pq.read_table(lake / "_dagster" / "batch_summary" / f"{BATCH}.parquet").to_pylist()
    assert summary[0]["quarantined"] == manifest["counts"]["quarantined"]
    assert summary[0]["processed"] == manifest["counts"]["processed"]


def _long_name(entries: list[BadFile]) -> str:
    return next(e.name for e in entries if len(e.name) > MAX_OUTPUT_NAME_BYTES)


def test_manifest_of_the_corpus_without_a_run(corpus: Corpus) -> None:
    """build_manifest alone (what the first step does): fast feedback for each file."""
    landing = open_storage(str(corpus.folder.parent))
    manifest = {e.name: e for e in build_manifest(landing, corpus.folder.name, load_registry())}
    wrong = [
        (entry.name, entry.expect, got.status, got.reason)
        for entry in corpus.entries
        if entry.expect != "any" and (got := manifest[manifest_name(entry)]).status != entry.expect
    ]
    assert wrong == []
