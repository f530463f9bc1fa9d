"""The ``aerofs`` command line, run as a real subprocess, plus its progress renderer."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aerofs_pipelines.cli.kernels import default_rejects_path
from aerofs_pipelines.cli.progress import ProgressBar, format_bytes, format_count, should_show
from aerofs_pipelines.sample_data import write_sample_batch

ROOT = Path(__file__).resolve().parents[2]


def aerofs(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "aerofs_pipelines.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("aerofs: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    return lines[0]


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    src = tmp_path / "people.csv"
    src.write_text(
        'id,name,score,city\n1,Ada,3.5,London\n2,"Smith, Jane",,"New\nYork"\n3,Zoë,-1.25,東京\n',
        encoding="utf-8",
    )
    return src


@pytest.fixture
def ragged_csv(tmp_path: Path) -> Path:
    src = tmp_path / "ragged.csv"
    src.write_text("a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n", encoding="utf-8")
    return src


# ------------------------------------------------------------------------ convert


def test_convert_json_reads_back(tmp_path: Path, good_csv: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    dst = tmp_path / "out" / "people.parquet"
    proc = aerofs("convert", good_csv, dst, "--json")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)  # exactly one JSON document
    assert stats["rows"] == 3
    assert stats["rejected_rows"] == 0
    assert stats["bytes_read"] == good_csv.stat().st_size
    assert stats["columns"] == ["id", "name", "score", "city"]
    assert stats["dst"] == str(dst)
    for key in ("null_counts", "schema", "seconds"):
        assert key in stats
    assert stats["null_counts"]["score"] == 1

    table = pq.read_table(dst)
    assert table.num_rows == 3
    assert table.column_names == ["id", "name", "score", "city"]
    assert table.column("name").to_pylist() == ["Ada", "Smith, Jane", "Zoë"]
    assert table.column("city").to_pylist() == ["London", "New\nYork", "東京"]
    assert table.column("score").to_pylist() == [3.5, None, -1.25]


def test_convert_human_summary(tmp_path: Path, good_csv: Path) -> None:
    proc = aerofs("convert", good_csv, tmp_path / "p.parquet")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"rows\s+3\b", proc.stdout), proc.stdout
    assert re.search(r"rejected\s+0\b", proc.stdout), proc.stdout
    assert re.search(r"read\s+\d+ B in [0-9.]+ s \(.*B/s\)", proc.stdout), proc.stdout
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal


def test_convert_tsv_defaults_to_tab(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    src = tmp_path / "t.tsv"
    src.write_text("k\tv\nx,y\t1\nz\t2\n", encoding="utf-8")
    dst = tmp_path / "t.parquet"
    proc = aerofs("convert", src, dst, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["columns"] == ["k", "v"]
    assert pq.read_table(dst).column("k").to_pylist() == ["x,y", "z"]


def test_convert_delimiter_and_no_header(tmp_path: Path) -> None:
    src = tmp_path / "semi.csv"
    src.write_text("1;a\n2;b\n3;c\n", encoding="utf-8")
    proc = aerofs(
        "convert", src, tmp_path / "semi.parquet", "--delimiter", ";", "--no-header", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["rows"] == 3
    assert len(stats["columns"]) == 2


def test_convert_sniffs_the_dialect_and_options_pin_keys(tmp_path: Path) -> None:
    src = tmp_path / "eu.csv"
    src.write_bytes("Bericht\nNr;Betrag\n1;1.234,5\n2;NA\n3;7,25\n".encode("cp1252"))
    proc = aerofs("convert", src, tmp_path / "eu.parquet", "--json")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["dialect_sniffed"] is True
    assert stats["schema"] == {"Nr": "int64", "Betrag": "double"}
    assert (stats["dialect"]["skip_rows"], stats["dialect"]["decimal"]) == (1, ",")
    # A pinned key wins; --dialect default reads RFC 4180 with only the given keys.
    proc = aerofs("convert", src, tmp_path / "x.parquet", "--skip-rows", "0", "--json")
    assert json.loads(proc.stdout)["dialect"]["skip_rows"] == 0
    proc = aerofs(
        "convert", src, tmp_path / "y.parquet", "--dialect", "default", "--skip-rows", "1",
        "--delimiter", "semicolon", "--null-value", "NA", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["dialect_sniffed"] is False
    assert stats["schema"] == {"Nr": "int64", "Betrag": "string"}  # no decimal comma given


def test_sniff_prints_the_dialect(tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    src.write_text("id|note\n1|'it\\'s'\n2|'a|b'\n")
    proc = aerofs("sniff", src, "--json")
    assert proc.returncode == 0, proc.stderr
    dialect = json.loads(proc.stdout)
    assert (dialect["delimiter"], dialect["quote"], dialect["escape"]) == ("|", "'", "\\")
    assert 0 < dialect["confidence"] <= 1
    proc = aerofs("sniff", src, "--quote", "none")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"quote\s+None", proc.stdout)
    assert re.search(r"confidence\s+[01]\.\d\d", proc.stdout)


def test_convert_help_lists_the_dialect_options() -> None:
    proc = aerofs("convert", "--help")
    for option in ("--encoding", "--delimiter", "--quote", "--escape", "--skip-rows",
                   "--header-rows", "--comment", "--skip-footer", "--trim", "--null-value",
                   "--decimal", "--thousands", "--date-format", "--timestamp-format",
                   "--ragged", "--dialect"):  # fmt: skip
        assert option in proc.stdout, option


def test_convert_quarantine_default_rejects(tmp_path: Path, ragged_csv: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    dst = tmp_path / "ragged.parquet"
    proc = aerofs("convert", ragged_csv, dst, "--on-error", "quarantine", "--json")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["rows"] == 2
    assert stats["rejected_rows"] == 1
    rejects = tmp_path / "ragged.rejects.csv"
    assert stats["rejects"] == str(rejects)
    assert rejects.exists() and rejects.stat().st_size > 0
    assert "3" in rejects.read_text(encoding="utf-8")  # the bad row's line number
    assert pq.read_table(dst).column("a").to_pylist() == [1, 8]


def test_convert_quarantine_explicit_rejects(tmp_path: Path, ragged_csv: Path) -> None:
    rejects = tmp_path / "elsewhere" / "bad.csv"
    proc = aerofs(
        "convert",
        ragged_csv,
        tmp_path / "r.parquet",
        "--on-error",
        "quarantine",
        "--rejects",
        rejects,
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"rejected\s+1\b", proc.stdout), proc.stdout
    assert rejects.exists()


def test_convert_ragged_fails_with_location(tmp_path: Path, ragged_csv: Path) -> None:
    dst = tmp_path / "never.parquet"
    proc = aerofs("convert", ragged_csv, dst, "--on-error", "fail")
    line = assert_one_line_error(proc)
    assert re.search(re.escape(str(ragged_csv)) + r":3:\d+: ", line), line
    assert not dst.exists()  # nothing half-written left behind


def test_convert_sample_batch(tmp_path: Path) -> None:
    batch = write_sample_batch(tmp_path / "landing")
    assert (batch.directory / "_SUCCESS").exists()
    orders = batch.directory / "orders.csv"
    proc = aerofs("convert", orders, tmp_path / "o.parquet", "--on-error", "fail")
    line = assert_one_line_error(proc)
    assert f":{batch.bad_line}:" in line, line

    proc = aerofs("convert", orders, tmp_path / "o.parquet", "--on-error", "quarantine", "--json")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["rejected_rows"] == 1
    assert stats["rows"] == batch.csv_rows - 1


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    line = assert_one_line_error(aerofs("convert", missing, tmp_path / "x.parquet"))
    assert str(missing) in line
    assert "No such file" in line
    line = assert_one_line_error(aerofs("analyze", missing))
    assert str(missing) in line
    line = assert_one_line_error(aerofs("digest", missing, "--json"))
    assert str(missing) in line


def test_directory_is_an_input_error(tmp_path: Path) -> None:
    assert_one_line_error(aerofs("analyze", tmp_path))


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("convert",),
        ("convert", "a.csv", "b.parquet", "--on-error", "ignore"),
        ("convert", "a.csv", "b.parquet", "--compression", "gzip"),
        ("convert", "a.csv", "b.parquet", "--delimiter", ""),
        ("convert", "a.csv", "b.parquet", "--rejects", "r.csv"),  # needs quarantine
        ("analyze", "f.txt", "--top-k", "-1"),
        ("frobnicate",),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    proc = aerofs(*args)
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr
    assert "usage:" in proc.stderr


def test_default_rejects_path() -> None:
    assert default_rejects_path("out/data.parquet") == str(Path("out/data.rejects.csv"))
    assert default_rejects_path("out/data") == str(Path("out/data.rejects.csv"))


def test_convert_does_not_import_dagster(tmp_path: Path, good_csv: Path) -> None:
    argv = ["convert", str(good_csv), str(tmp_path / "d.parquet"), "--json"]
    code = (
        "import sys, aerofs_pipelines.cli as cli\n"
        f"rc = cli.main({argv!r})\n"
        "assert rc == 0, rc\n"
        "bad = sorted(m for m in sys.modules if m == 'dagster' or m.startswith('dagster.'))\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"] == 3


# ------------------------------------------------------------------------ analyze, digest


def test_analyze_json(tmp_path: Path) -> None:
    src = tmp_path / "words.txt"
    src.write_bytes(b"The cat and the dog.\nthe end, the cat\n")
    proc = aerofs("analyze", src, "--top-k", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["bytes"] == src.stat().st_size
    assert stats["lines"] == 2
    assert stats["words"] == 9
    assert stats["unique_words"] == 5
    assert stats["invalid_utf8_bytes"] == 0
    assert stats["top_words"] == [["the", 4], ["cat", 2]]


def test_analyze_human_table(tmp_path: Path) -> None:
    src = tmp_path / "words.txt"
    src.write_text("b a b c b a\n", encoding="utf-8")
    proc = aerofs("analyze", src, "--top-k", "3")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert ["b", "3"] in rows and ["a", "2"] in rows and ["c", "1"] in rows
    assert ["words", "6"] in rows


def test_digest(tmp_path: Path) -> None:
    a = tmp_path / "a.bin"
    b = tmp_path / "b.bin"
    c = tmp_path / "c.bin"
    a.write_bytes(b"hello world\n")
    b.write_bytes(b"hello world\n")
    c.write_bytes(b"hello world!\n")
    outs = []
    for path in (a, b, c):
        proc = aerofs("digest", path, "--json")
        assert proc.returncode == 0, proc.stderr
        obj = json.loads(proc.stdout)
        assert re.fullmatch(r"[0-9a-f]{64}", obj["digest"]), obj
        outs.append(obj["digest"])
    assert outs[0] == outs[1] != outs[2]

    proc = aerofs("digest", a)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [outs[0], str(a)]


# ------------------------------------------------------------------------ progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_bar_renders_and_clears() -> None:
    out = io.StringIO()
    clock = FakeClock()
    total = 1_100_000_000
    bar = ProgressBar(total, out, width=10, clock=clock)
    clock.now += 1.0
    bar(412_000_000, 2_100_000)
    text = out.getvalue()
    assert text.startswith("\r")
    assert "\n" not in text
    assert "37%" in text
    assert "412 MB/1.1 GB" in text
    assert "412 MB/s" in text
    assert "2.1M rows/s" in text
    assert "[####------]" in text

    clock.now += 0.01  # too soon: no redraw
    bar(500_000_000, 2_500_000)
    assert out.getvalue() == text

    clock.now += 1.0
    bar(total, 5_000_000)
    assert "100%" in out.getvalue()

    bar.close()
    final = out.getvalue()
    assert final.endswith("\r")
    last = final.rsplit("\r", 2)[-2]
    assert last.strip() == ""  # the line was blanked
    bar.close()  # idempotent
    bar(1, 1)  # ignored after close
    assert out.getvalue() == final


def test_progress_bar_unknown_total() -> None:
    out = io.StringIO()
    clock = FakeClock()
    bar = ProgressBar(0, out, clock=clock)
    clock.now += 2.0
    bar(3_000_000, 10)
    assert "%" not in out.getvalue()
    assert "3.0 MB" in out.getvalue()


def test_progress_only_on_tty_for_big_inputs() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert not should_show(io.StringIO(), 10**10)
    assert not should_show(Tty(), 1000)
    assert should_show(Tty(), 65 * 1024 * 1024)


def test_formatting() -> None:
    assert format_bytes(0) == "0 B"
    assert format_bytes(999) == "999 B"
    assert format_bytes(412_000_000) == "412 MB"
    assert format_bytes(1_100_000_000) == "1.1 GB"
    assert format_count(950) == "950"
    assert format_count(12_500) == "12.5k"
    assert format_count(2_100_000) == "2.1M"
