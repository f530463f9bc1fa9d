"""A one-line progress bar for long conversions, drawn on a terminal stream.

``ProgressBar`` is the ``progress(bytes_read, rows)`` callback of
:func:`aerofs_pipelines.kernels.csv_to_parquet`; it writes to any text stream, so it can
be tested with a ``StringIO``. Whether to show it at all is :func:`should_show`'s call.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["MIN_BYTES", "ProgressBar", "format_bytes", "format_count", "should_show"]

MIN_BYTES = 64 * 1024 * 1024
"""Inputs smaller than this finish too quickly to need a progress bar."""


def format_bytes(n: float) -> str:
    """Decimal units, as disk and network speeds are quoted: ``412 MB``, ``1.1 GB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            break
        n /= 1000
    if unit == "B":
        return f"{int(n)} B"
    return f"{n:.1f} {unit}" if abs(n) < 10 else f"{n:.0f} {unit}"


def format_count(n: float) -> str:
    """``950``, ``12.5k``, ``2.1M``, ``3.4G``."""
    for unit in ("", "k", "M", "G"):
        if abs(n) < 1000 or unit == "G":
            break
        n /= 1000
    if unit == "":
        return f"{n:.0f}"
    return f"{n:.1f}{unit}" if abs(n) < 100 else f"{n:.0f}{unit}"


def should_show(stream: TextIO, total_bytes: int) -> bool:
    """Only on an interactive terminal, and only for inputs that take a while."""
    try:
        is_tty = stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False
    return is_tty and total_bytes > MIN_BYTES


class ProgressBar:
    """Renders ``\\r [#####-----]  37%  412 MB/1.1 GB  350 MB/s  2.1M rows/s``.

    Redraws at most every ``interval`` seconds; :meth:`close` erases the line.
    """

    def __init__(
        self,
        total_bytes: int,
        stream: TextIO | None = None,
        *,
        width: int = 24,
        interval: float = 0.1,
        show_rows: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_bytes = max(0, total_bytes)
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.width = width
        self.show_rows = show_rows
        self.interval = interval
        self._clock = clock
        self._start = clock()
        self._last_draw: float | None = None
        self._drawn_len = 0
        self._closed = False

    def render(self, bytes_read: int, rows: int, elapsed: float) -> str:
        """The line (without ``\\r``) for this state; pure, for tests and reuse."""
        parts = []
        if self.total_bytes:
            fraction = min(1.0, max(0.0, bytes_read / self.total_bytes))
            filled = round(fraction * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            parts.append(f"[{bar}] {fraction * 100:3.0f}%")
            parts.append(f"{format_bytes(bytes_read)}/{format_bytes(self.total_bytes)}")
        else:
            parts.append(format_bytes(bytes_read))
        if elapsed > 0:
            parts.append(f"{format_bytes(bytes_read / elapsed)}/s")
            if self.show_rows:
                parts.append(f"{format_count(rows / elapsed)} rows/s")
        return "  " + "  ".join(parts)

    def __call__(self, bytes_read: int, rows: int) -> None:
        if self._closed:
            return
        now = self._clock()
        if self._last_draw is not None and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        line = self.render(bytes_read, rows, now - self._start)
        pad = " " * max(0, self._drawn_len - len(line))
        self.stream.write("\r" + line + pad)
        self.stream.flush()
        self._drawn_len = len(line)

    def close(self) -> None:
        """Erase the bar (leaving the cursor at the start of an empty line)."""
        if self._closed:
            return
        self._closed = True
        if self._drawn_len:
            self.stream.write("\r" + " " * self._drawn_len + "\r")
            self.stream.flush()
            self._drawn_len = 0

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
