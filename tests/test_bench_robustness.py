"""The loading-robustness benchmark (bench/robustness.py) at smoke size: the corpus covers
every pollution kind and matches its ground truth, the scorer tells right from wrong, and
every contender gets a score for every file even when it fails, crashes or hangs, and the
kernel scores at least DuckDB's, with and without the dialect given."""

from __future__ import annotations

import datetime as dt
import os
import time
from decimal import Decimal
from pathlib import Path

import pytest

from aerofs_pipelines.kernels import Dialect
from bench import pollution, robustness
from bench.pollution import CorpusFile, build_corpus, normalise, read_with_dialect
from bench.robustness import Contender, Loaded, score_file

SMOKE_ROWS = 6

REQUIRED_VARIANTS = {
    "delimiter/semicolon",
    "delimiter/pipe",
    "delimiter/tab",
    "delimiter/colon",
    "delimiter/comma_space",
    "delimiter/double_pipe",
    "delimiter/double_semicolon",
    "quote/single",
    "quote/none",
    "quote/backslash_escape",
    "line_terminator/crlf",
    "line_terminator/mixed",
    "preamble/title_lines",
    "preamble/comment_lines",
    "comments/inside_data",
    "footnote/trailing_lines",
    "header/none",
    "header/two_rows",
    "ragged/short_rows",
    "ragged/long_rows",
    "stray_quote/unquoted",
    "empty/empty_file",
    "empty/header_only",
    "encoding/windows_1252",
    "encoding/utf16le_bom_tab",
    "encoding/utf8_bom",
    "european/decimal_comma",
    "nulls/tokens",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[CorpusFile]:
    return build_corpus(tmp_path_factory.mktemp("corpus"), seed=7, rows=SMOKE_ROWS)


@pytest.fixture(scope="module")
def report() -> robustness.Report:
    return robustness.run(seed=7, rows=SMOKE_ROWS, timeout=60)


def _by_variant(files: list[CorpusFile], variant: str) -> list[CorpusFile]:
    return [f for f in files if f.variant == variant]


def test_corpus_covers_every_kind_and_is_seeded(corpus: list[CorpusFile], tmp_path: Path) -> None:
    variants = {f.variant for f in corpus}
    assert variants >= REQUIRED_VARIANTS, REQUIRED_VARIANTS - variants
    assert {f.table for f in corpus} == {"orders", "sensors", "staff"}
    for variant in variants - {"empty/empty_file"}:
        assert len(_by_variant(corpus, variant)) == 3, variant
    # the pollutions are in the bytes
    raw = {f.id: f.path.read_bytes() for f in corpus}
    assert raw["orders/empty/empty_file"] == b""
    assert raw["orders/encoding/utf16le_bom_tab"].startswith(b"\xff\xfe")
    assert raw["orders/encoding/utf8_bom"].startswith(b"\xef\xbb\xbf")
    assert b"\x80" in raw["orders/encoding/windows_1252"]  # € in Windows-1252
    assert b"\r\n" in raw["orders/line_terminator/mixed"]
    assert b"\n" in raw["orders/line_terminator/mixed"].replace(b"\r\n", b"")
    assert b'27" monitor,' in raw["orders/stray_quote/unquoted"]
    assert b'"27\\" monitor"' in raw["orders/quote/backslash_escape"]
    assert b"||" in raw["orders/delimiter/double_pipe"]
    assert any(t in raw["orders/nulls/tokens"] for t in (b",NA,", b",NULL,", b",n/a,", b",-,"))
    european = raw["orders/european/decimal_comma"].decode()
    assert ";" in european and "," in european
    header_two = _by_variant(corpus, "header/two_rows")[0]
    assert "Customer customer" in header_two.header and "city" in header_two.header
    assert _by_variant(corpus, "header/none")[0].header == ()
    assert _by_variant(corpus, "empty/header_only")[0].records == ()
    # same seed, same bytes; another seed, other bytes
    again = build_corpus(tmp_path / "again", seed=7, rows=SMOKE_ROWS)
    assert [f.path.read_bytes() for f in again] == list(raw.values())
    other = build_corpus(tmp_path / "other", seed=8, rows=SMOKE_ROWS, only=["clean"])
    assert other[0].path.read_bytes() != raw["orders/clean/standard"]


def test_every_file_reads_back_to_its_ground_truth_with_its_dialect(
    corpus: list[CorpusFile],
) -> None:
    for file in corpus:
        score = score_file(file, read_with_dialect(file.path, file.dialect))
        assert score.mean_f1 == 1.0, (file.id, score)


def test_normalise_compares_values_not_spellings() -> None:
    for same in ("1.50", "1.5", "1,5", " 1.5 ", 1.5, Decimal("1.500"), "1.5e0"):
        assert normalise(same) == "1.5", same
    assert normalise(3.0) == normalise("3") == normalise(Decimal("3.00")) == "3"
    assert normalise(dt.date(2025, 12, 31)) == "2025-12-31"
    assert normalise(dt.datetime(2025, 12, 31)) == "2025-12-31"
    assert normalise(None) == normalise("") == normalise("  ") == normalise(float("nan")) == ""
    # what needs the dialect is not undone
    assert normalise("1.234,50") != "1234.5"
    assert normalise("31.12.2025") != "2025-12-31"
    assert normalise("NA") == "NA"


def test_scorer_gives_one_to_the_truth_and_less_to_wrong_tables(
    corpus: list[CorpusFile],
) -> None:
    file = _by_variant(corpus, "clean/standard")[0]
    header, records = list(file.header), [list(r) for r in file.records]
    perfect = score_file(file, (header, records))
    assert (perfect.header.f1, perfect.records.f1, perfect.cells.f1) == (1.0, 1.0, 1.0)

    # the header taken one row too low: the first record became the header
    shifted = score_file(file, (records[0], records[1:]))
    assert shifted.header.f1 == 0.0
    assert shifted.records.precision == 1.0 and shifted.records.recall < 1.0
    assert shifted.cells.recall < 1.0

    # a dropped column
    dropped = score_file(file, (header[1:], [r[1:] for r in records]))
    assert dropped.header.f1 < 1.0 and dropped.records.f1 == 0.0 and dropped.cells.f1 < 0.2

    # one wrong cell: one wrong record, all other cells right
    wrong = [list(r) for r in records]
    wrong[2][3] = "nope"
    one_off = score_file(file, (header, wrong))
    assert one_off.records.recall == pytest.approx((len(records) - 1) / len(records))
    cells = len(records) * len(header)
    assert one_off.cells.precision == pytest.approx((cells - 1) / cells)

    # synthetic names are "no header": right for a headerless file, wrong otherwise
    synthetic = [f"column{i}" for i in range(len(header))]
    assert score_file(file, (synthetic, records)).header.f1 == 0.0
    headerless = _by_variant(corpus, "header/none")[0]
    recs = [list(r) for r in headerless.records]
    assert score_file(headerless, (synthetic, recs)).mean_f1 == 1.0

    # empty file: an empty table is right, an error is 0
    empty = _by_variant(corpus, "empty/empty_file")[0]
    assert score_file(empty, ([], [])).mean_f1 == 1.0
    assert score_file(empty, None, error="boom").mean_f1 == 0.0


def test_duckdb_is_scored_on_every_file(report: robustness.Report) -> None:
    variants = {f.variant for f in report.files}
    assert variants >= REQUIRED_VARIANTS
    for cid in ("duckdb-given", "duckdb-auto"):
        assert cid in report.scores, report.unavailable
        scores = report.scores[cid]
        assert len(scores) == len(report.files)
        for s in scores:
            for metric in (s.header, s.records, s.cells):
                assert 0.0 <= metric.f1 <= 1.0
            if s.error is not None:
                assert s.mean_f1 == 0.0
    # the control file is read perfectly when the dialect is given
    given = dict(zip((f.id for f in report.files), report.scores["duckdb-given"], strict=True))
    assert given["orders/clean/standard"].mean_f1 == 1.0
    # aerofs is either scored on every file too or reported as not available
    for cid in ("aerofs-given", "aerofs-auto"):
        assert (cid in report.scores) != (cid in report.unavailable)
        if cid in report.scores:
            assert len(report.scores[cid]) == len(report.files)
    text = robustness.render(report, verbose=True)
    assert "duckdb (given)" in text and "duckdb (auto)" in text and "Totals" in text


def test_duckdb_given_options_carry_the_dialect(corpus: list[CorpusFile]) -> None:
    european = _by_variant(corpus, "european/decimal_comma")[0].dialect
    options = robustness.duckdb_given_options(european)
    assert options["delim"] == ";" and options["decimal_separator"] == ","
    assert options["thousands"] == "." and options["dateformat"] == "%d.%m.%Y"
    two_rows = robustness.duckdb_given_options(_by_variant(corpus, "header/two_rows")[0].dialect)
    assert two_rows["skip"] == 1 and two_rows["header"] is True
    single = robustness.duckdb_given_options(_by_variant(corpus, "quote/single")[0].dialect)
    assert robustness.duckdb_sql("/x/it's.csv", single) == (
        "SELECT * FROM read_csv('/x/it''s.csv', delim = ',', quote = '''', escape = '''', "
        "header = true, skip = 0, encoding = 'utf-8', nullstr = [''], decimal_separator = '.', "
        "null_padding = false, ignore_errors = true, strict_mode = false, "
        "dateformat = '%Y-%m-%d')"
    )


# ---------------------------------------------------------------------------------------------
# Failures never stop the run


def _misbehaving_load(path: str, dialect: Dialect) -> Loaded:
    if "orders__delimiter__semicolon" in path:
        os._exit(3)  # a crash of the worker process
    if "orders__delimiter__pipe" in path:
        time.sleep(60)  # a hang
    if "delimiter__tab" in path:
        raise RuntimeError("boom")
    return read_with_dialect(Path(path), dialect)


def _never_unavailable() -> str | None:
    return None


def test_crashes_hangs_and_errors_score_zero_and_the_run_goes_on() -> None:
    flaky = Contender("flaky", "flaky", True, _misbehaving_load, _never_unavailable, "test")
    only = ["delimiter/semicolon", "delimiter/pipe", "delimiter/tab", "delimiter/colon"]
    report = robustness.run(seed=7, rows=3, only=only, contenders=[flaky], timeout=3)
    scores = dict(zip((f.id for f in report.files), report.scores["flaky"], strict=True))
    assert len(scores) == 12
    assert "died" in (scores["orders/delimiter/semicolon"].error or "")
    assert "timeout" in (scores["orders/delimiter/pipe"].error or "")
    assert "boom" in (scores["sensors/delimiter/tab"].error or "")
    failed = {k for k, s in scores.items() if s.error is not None}
    assert failed == {
        "orders/delimiter/semicolon",
        "orders/delimiter/pipe",
        "orders/delimiter/tab",
        "sensors/delimiter/tab",
        "staff/delimiter/tab",
    }
    assert all(scores[k].mean_f1 == 0.0 for k in failed)
    assert all(s.mean_f1 == 1.0 for k, s in scores.items() if k not in failed)


# ---------------------------------------------------------------------------------------------
# The kernel against DuckDB (the bar, at smoke size)


def test_the_kernel_scores_at_least_duckdb_given_and_auto(report: robustness.Report) -> None:
    totals = {cid: robustness.summarise(scores) for cid, scores in report.scores.items()}
    assert totals["aerofs-given"].mean >= totals["duckdb-given"].mean
    assert totals["aerofs-auto"].mean >= totals["duckdb-auto"].mean
    for metric in ("header", "records", "cells"):
        for mode in ("given", "auto"):
            ours = getattr(totals[f"aerofs-{mode}"], metric)
            theirs = getattr(totals[f"duckdb-{mode}"], metric)
            assert ours >= theirs, (mode, metric)
    assert totals["aerofs-given"].errors == 0


def test_pollution_select_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown"):
        pollution.select_variants(["delimiters"])
