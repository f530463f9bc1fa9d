"""Tests of the text statistics kernel (`aerofs_pipelines.kernels.analyze_text`).

The reference is plain Python: ``Counter(re.findall(r"\\w+", text.lower()))``.
"""

from __future__ import annotations

import codecs
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from aerofs_pipelines import kernels
from aerofs_pipelines.kernels import analyze_text

WORD_RE = re.compile(r"\w+")

VOCAB = [
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "it",
    "you",
    "that",
    "was",
    "for",
    "on",
    "are",
    "with",
    "as",
    "I",
    "his",
    "they",
    "be",
    "at",
    "one",
    "have",
    "this",
    "from",
    "The",
    "THE",
    "And",
    "Python",
    "Rust",
    "kernel",
    "pipeline",
    "statistics",
    "café",
    "CAFÉ",
    "naïve",
    "Über",
    "über",
    "señor",
    "Élan",
    "ÉCOLE",
    "école",
    "smörgåsbord",
    "façade",
    "Ærø",
    "straße",
    "Ωmega",
    "日本語",
    "Привет",
    "ПРИВЕТ",
    "42",
    "2024",
    "3rd",
    "x86_64",
    "snake_case",
    "_private",
    "__dunder__",
    "CamelCase",
    "don't",
    "it's",
    "O'Neil",
    "rock'n'roll",
    "e-mail",
    "co-op",
    "U.S.A.",
    "supercalifragilisticexpialidocious",
    "Antidisestablishmentarianism_2",
    "a1b2c3d4e5f6g7h8i9j0",
    "ÀÉÎÕÜàéîõü",
]
SEPARATORS = (
    [" "] * 12 + ["\n"] * 3 + ["\r\n", "\t", ", ", ". ", "; ", " — ", " (", ") ", '"', "!\n", "  "]
)


def generate(seed: int, n_words: int) -> str:
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(VOCAB))]  # Zipf-like
    words = rng.choices(VOCAB, weights=weights, k=n_words)
    parts: list[str] = []
    for word in words:
        parts.append(word)
        parts.append(rng.choice(SEPARATORS))
    return "".join(parts)


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def reference(data: bytes, top_k: int) -> dict[str, Any]:
    """What `analyze_text` must return; invalid UTF-8 becomes a separator and is counted."""
    invalid = 0
    replaced = 0

    def handler(exc: UnicodeError) -> tuple[str, int]:
        nonlocal invalid, replaced
        assert isinstance(exc, UnicodeDecodeError)
        invalid += exc.end - exc.start
        replaced += 1
        return " ", exc.end

    codecs.register_error("aerofs-test-count", handler)
    text = data.decode("utf-8", errors="aerofs-test-count")
    counts = Counter(WORD_RE.findall(text.lower()))
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    return {
        "bytes": len(data),
        "lines": _line_count(data),
        "words": sum(counts.values()),
        "chars": len(text) - replaced,
        "unique_words": len(counts),
        "top_words": [[word, count] for word, count in top],
        "invalid_utf8_bytes": invalid,
    }


def write(tmp_path: Path, data: bytes, name: str = "input.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_python_reference(tmp_path: Path, seed: int) -> None:
    data = generate(seed, 2_000 + 3_000 * seed).encode()
    path = write(tmp_path, data)
    for top_k in (0, 1, 5, 20, 1000):
        assert analyze_text(path, top_k=top_k) == reference(data, top_k)


def test_large_input_uses_several_blocks(tmp_path: Path) -> None:
    # Several read blocks (and so both workers), with CRLF and a missing final newline.
    data = generate(42, 200_000).encode().rstrip(b"\n")
    path = write(tmp_path, data)
    result = analyze_text(str(path), top_k=25)
    assert result == reference(data, 25)
    assert result["bytes"] > 1_000_000


def test_invalid_utf8_is_counted_and_separates_words(tmp_path: Path) -> None:
    data = b"abc\xe2\x82def \xffghi\xf0\x9f\x98\x80 jkl caf\xc3\xa9\xc3"
    result = analyze_text(write(tmp_path, data), top_k=10)
    assert result["invalid_utf8_bytes"] == 4  # e2 82 (truncated), ff, trailing c3
    assert result["words"] == 5
    assert sorted(w for w, _ in result["top_words"]) == ["abc", "café", "def", "ghi", "jkl"]
    assert result == reference(data, 10)


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_match_reference(tmp_path: Path, seed: int) -> None:
    # Random stray bytes are continuation bytes or never-valid bytes, and truncated
    # sequences are followed by a space, so no random *valid* character is formed (Rust's
    # is_alphanumeric and Python's isalnum disagree on some rare combining marks).
    rng = random.Random(1000 + seed)
    alphabet = [
        b"a",
        b"B",
        b"z",
        b"_",
        b"7",
        b" ",
        b"\n",
        b"\r\n",
        b".",
        b"'",
        "é".encode(),
        "Ü".encode(),
        "ß".encode(),
        "日".encode(),
        "😀".encode(),
        "İ".encode(),
        "\u212a".encode(),
    ]
    truncated = ["日".encode()[:2], "😀".encode()[:3], "😀".encode()[:1], "é".encode()[:1]]
    stray = list(range(0x80, 0xC0)) + list(range(0xF8, 0x100)) + [0xC0, 0xC1]
    chunks = []
    for _ in range(20_000):
        roll = rng.random()
        if roll < 0.08:
            chunks.append(bytes([rng.choice(stray)]))
        elif roll < 0.1:
            chunks.append(rng.choice(truncated) + b" ")
        else:
            chunks.append(rng.choice(alphabet))
    data = b"".join(chunks)
    assert analyze_text(write(tmp_path, data), top_k=15) == reference(data, 15)


def test_empty_file(tmp_path: Path) -> None:
    assert analyze_text(write(tmp_path, b"")) == {
        "bytes": 0,
        "lines": 0,
        "words": 0,
        "chars": 0,
        "unique_words": 0,
        "top_words": [],
        "invalid_utf8_bytes": 0,
    }


def test_lines_and_chars(tmp_path: Path) -> None:
    assert analyze_text(write(tmp_path, b"a\n"))["lines"] == 1
    assert analyze_text(write(tmp_path, b"a\nb"))["lines"] == 2
    assert analyze_text(write(tmp_path, b"\n\n\n"))["lines"] == 3
    result = analyze_text(write(tmp_path, "héllo wörld\r\n".encode()))
    assert result["chars"] == 13
    assert result["bytes"] == 15
    assert result["lines"] == 1


def test_top_k_order_and_ties(tmp_path: Path) -> None:
    data = b"pear apple Fig fig banana Apple cherry FIG apple banana date"
    path = write(tmp_path, data)
    # fig 3, apple 3, banana 2, then cherry/date/pear 1 each: ties by word ascending.
    assert analyze_text(path, top_k=4)["top_words"] == [
        ["apple", 3],
        ["fig", 3],
        ["banana", 2],
        ["cherry", 1],
    ]
    assert analyze_text(path, top_k=0)["top_words"] == []
    everything = analyze_text(path, top_k=100)
    assert everything["unique_words"] == 6
    assert [w for w, _ in everything["top_words"]] == [
        "apple",
        "fig",
        "banana",
        "cherry",
        "date",
        "pear",
    ]
    with pytest.raises(ValueError):
        analyze_text(path, top_k=-1)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        analyze_text(tmp_path / "nope.txt")


def test_directory_raises_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        analyze_text(tmp_path)


def test_binary_kind_names_what_is_not_text(tmp_path: Path) -> None:
    import gzip

    cases = {
        "a.gz.txt": (gzip.compress(b"hello\n"), "gzip-compressed data"),
        "u16.txt": ("héllo\n".encode("utf-16"), "UTF-16LE text (byte order mark FF FE)"),
        "bin.txt": (b"\x00\xff\xfe\x80" * 10, "binary content (NUL bytes and invalid UTF-8)"),
        "ok.txt": ("plain text, café\n".encode(), None),
        "nul.txt": (b"text with a \x00 NUL\n", None),
    }
    for name, (data, expected) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert kernels.binary_kind(tmp_path / name) == expected, name
    with pytest.raises(FileNotFoundError):
        kernels.binary_kind(tmp_path / "missing.txt")
