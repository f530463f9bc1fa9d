"""Exceptions raised by the kernels (the Rust core raises these classes directly)."""

from __future__ import annotations

import errno

ENVIRONMENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ENOMEM, errno.EROFS, errno.EMFILE, errno.ENFILE}
)
"""OS errors about the machine (disk full, quota, I/O error, ...), not about a file's content."""


def is_environment_error(exc: BaseException) -> bool:
    """True for an OSError that says the machine, not the input, is at fault.

    Such an error must fail the step (retried, then the run fails and the batch is
    re-run later), never quarantine a good file as if its content were bad.
    """
    return isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS


class KernelError(Exception):
    """Base class of every error a kernel raises about its input.

    ``path``, ``line`` and ``column`` (both 1-based; ``column`` is the CSV field number)
    say where the problem is, when that is known; ``column_name`` names the CSV column.
    """

    def __init__(
        self,
        reason: str,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        column_name: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        self.column = column
        self.column_name = column_name
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.path or ""
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.reason}" if where else self.reason
        if self.column_name is not None:
            text += f" (column {self.column_name!r})"
        return text

    def __reduce__(self) -> tuple[type[KernelError], tuple[object, ...]]:
        return (type(self), (self.reason, self.path, self.line, self.column, self.column_name))


class InputFormatError(KernelError, ValueError):
    """The file's content is malformed (bad CSV, a value that does not fit its column, ...)."""


class KernelInternalError(KernelError, RuntimeError):
    """A bug in the kernel (a caught panic). Never expected; please report it."""
