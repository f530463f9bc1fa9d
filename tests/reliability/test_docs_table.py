"""docs/reliability.md names real tests: every file and test function it cites exists."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
CITED = re.compile(r"`((?:tests/[\w/]+/)?test_\w+\.py)(?:::(test_[\w*]+))?")


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_every_cited_test_exists() -> None:
    cited = CITED.findall(DOC.read_text())
    assert len(cited) >= 20, cited
    for file, func in cited:
        path = ROOT / file if "/" in file else ROOT / "tests" / "reliability" / file
        assert path.is_file(), f"docs/reliability.md cites {file}, which does not exist"
        if func:
            names = _test_functions(path)
            assert fnmatch.filter(names, func), f"{file} has no test {func}"


def test_every_reliability_test_file_is_in_the_table() -> None:
    text = DOC.read_text()
    for path in sorted((ROOT / "tests" / "reliability").glob("test_*.py")):
        if path.name != Path(__file__).name:
            assert path.name in text, f"{path.name} is not in docs/reliability.md"
