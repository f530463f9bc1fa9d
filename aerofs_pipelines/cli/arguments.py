"""Argument types the ``aerofs`` commands share (argparse ``type=`` callables)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["int_in_range"]


def int_in_range(
    least: int, most: int | None = None, what: str = "an integer"
) -> Callable[[str], int]:
    """An argparse type: an integer ``least <= n [<= most]``, or a usage error saying so."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {value!r}") from None
        if n < least or (most is not None and n > most):
            bound = f"{least}-{most}" if most is not None else f">= {least}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {n}")
        return n

    return parse
