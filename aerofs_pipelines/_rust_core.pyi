"""Type stub of the Rust extension; the typed API is aerofs_pipelines.kernels."""

from collections.abc import Callable
from typing import Any

import pyarrow as pa

__version__: str

def csv_to_parquet(
    src: str,
    dst: str,
    schema: pa.Schema | None,
    dialect: dict[str, object] | None,
    auto: bool,
    on_error: str,
    rejects: str | None,
    compression: str,
    progress: Callable[[int, int], None] | None,
    constant_columns: list[tuple[str, str]] = ...,
) -> Any: ...
def read_csv(
    src: str, schema: pa.Schema | None, dialect: dict[str, object] | None, auto: bool
) -> pa.RecordBatchReader: ...
def sniff(src: str, pinned: dict[str, object] | None) -> Any: ...
def check_dialect(options: dict[str, object] | None) -> Any: ...
def analyze_text(src: str, top_k: int) -> Any: ...
def digest(src: str) -> str: ...
def binary_kind(src: str) -> str | None: ...
