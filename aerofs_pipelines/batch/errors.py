"""Why one file of a batch failed, in one line, and which failures are not the file's.

A file that cannot be processed is recorded with its reason and the rest of the batch
goes on; a machine fault (disk full, I/O error) fails the step instead, to be retried.
"""

from __future__ import annotations

from aerofs_pipelines.kernels.errors import KernelError, is_environment_error

__all__ = ["FILE_ERRORS", "BatchNotProcessable", "describe_error", "file_failure"]


class BatchNotProcessable(ValueError):
    """The batch cannot be processed at all (an invalid id, no completion marker):
    retrying will not help."""


def describe_error(exc: BaseException, name: str) -> str:
    """One line saying what is wrong with file ``name`` (no temporary paths)."""
    if isinstance(exc, KernelError):
        where = name
        if exc.line is not None:
            where += f":{exc.line}" + (f":{exc.column}" if exc.column is not None else "")
        text = f"{where}: {exc.reason}"
        return text + (f" (column {exc.column_name!r})" if exc.column_name else "")
    if isinstance(exc, OSError) and exc.strerror:
        return f"{name}: {exc.strerror}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if name in text else f"{name}: {text}"


FILE_ERRORS = (KernelError, OSError, ValueError)
"""What reading or converting one file may raise (``UnsafePathError`` is a ValueError)."""


def file_failure(exc: Exception, name: str, what: str) -> str:
    """The one-line reason file ``name`` failed (``what``: at which stage).

    Machine faults (disk full, I/O error, out of memory, …) are not the file's: they are
    raised again, so the step fails and is retried instead of quarantining good data.
    """
    if is_environment_error(exc):
        raise exc
    return f"{what}: {describe_error(exc, name)}"
