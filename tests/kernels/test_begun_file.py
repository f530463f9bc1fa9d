"""``kernels.begin_file``: a new file begun by a thread without the GIL, then finished
or discarded."""

from __future__ import annotations

from pathlib import Path

import pytest

from aerofs_pipelines import kernels


def test_a_begun_file_is_finished_with_every_byte_once(tmp_path: Path) -> None:
    path = tmp_path / "new" / "metadata" / "v1.json"  # its folder made
    start = b"x" * 300_000
    begun = kernels.begin_file(path, [b'{"a":[', start])
    assert begun.begun == 6 + len(start)
    begun.finish([b'{"a":[', start, b",1]", b"}"])
    assert path.read_bytes() == b'{"a":[' + start + b",1]}"
    with pytest.raises(ValueError, match="finished or discarded"):
        begun.finish([b"again"])


def test_the_rest_may_start_inside_a_part(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f"
    kernels.begin_file(path, [b"ab", b"c"]).finish([b"abcd", b"ef"])
    assert path.read_bytes() == b"abcdef"


def test_an_existing_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        kernels.begin_file(path, [b"new"])
    assert path.read_bytes() == b"old"


def test_parts_that_do_not_start_as_begun_are_refused_and_the_file_removed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f"
    begun = kernels.begin_file(path, [b"abc"])
    with pytest.raises(ValueError, match="do not start with the bytes begun"):
        begun.finish([b"abX", b"d"])
    assert not path.exists()


def test_a_discarded_or_dropped_file_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "f"
    begun = kernels.begin_file(path, [b"abc"])
    begun.discard()
    begun.discard()  # once is enough
    assert not path.exists()
    kernels.begin_file(path, [b"abc"])  # dropped unfinished
    assert not path.exists()
