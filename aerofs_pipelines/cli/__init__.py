"""The ``aerofs`` command: one module per command group, each adding itself to the parser.

Start-up stays fast: only the standard library is imported here and at the top of each
command module; a command imports what it needs when it runs, so ``aerofs convert`` /
``analyze`` / ``digest`` never import Dagster.

Exit codes: 0 success, 1 bad input (one ``aerofs: error: ...`` line on stderr),
2 usage error (argparse) or a bad setting, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
from collections.abc import Sequence

from aerofs_pipelines.cli.errors import InputError

PROG = "aerofs"

# Modules adding subcommands: each has ``register(subparsers)``.
_COMMAND_MODULES = (
    "aerofs_pipelines.cli.kernels",
    "aerofs_pipelines.cli.ingest",
    "aerofs_pipelines.cli.users",
    "aerofs_pipelines.cli.tokens",
    "aerofs_pipelines.cli.audit",
    "aerofs_pipelines.cli.serve",
    "aerofs_pipelines.cli.config",
    "aerofs_pipelines.cli.tables",
    "aerofs_pipelines.cli.datasets",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="AeroFS Pipelines: Rust file kernels (CSV → Parquet, text statistics).",
    )
    from aerofs_pipelines import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


_OS_ERROR_SUFFIX = re.compile(r"\s*\(os error \d+\)$")


def _describe(exc: BaseException) -> str:
    """One line for the user: what went wrong and, for files, which file."""
    from aerofs_pipelines.kernels.errors import KernelInternalError

    if isinstance(exc, OSError) and exc.strerror:
        reason = _OS_ERROR_SUFFIX.sub("", str(exc.strerror))
        name = exc.filename
        msg = f"{os.fsdecode(name)}: {reason}" if name is not None else reason
        if exc.filename2 is not None:
            msg += f" -> {os.fsdecode(exc.filename2)}"
    elif isinstance(exc, KernelInternalError):
        msg = f"{exc} (this is a bug in aerofs; please report it)"
    else:
        msg = str(exc) or type(exc).__name__
    return " ".join(msg.split())  # exactly one line


def _fail(message: str, code: int) -> int:
    with contextlib.suppress(OSError):
        sys.stdout.flush()
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aerofs`` console script; returns the exit code."""
    from aerofs_pipelines.config import ConfigError
    from aerofs_pipelines.kernels.errors import KernelError

    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with a usage message on bad usage
    if getattr(args, "rejects", None) is not None and args.on_error != "quarantine":
        args.subparser.error("--rejects requires --on-error quarantine")
    try:
        code: int = args.func(args)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except ConfigError as exc:  # a bad AEROFS_* value: a usage error, not bad input
        return _fail(str(exc), 2)
    except (InputError, KernelError, OSError, ValueError) as exc:
        return _fail(_describe(exc), 1)
