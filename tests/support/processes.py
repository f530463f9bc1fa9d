"""Child processes for tests and benchmarks: ports, readiness, stopping.

One implementation each of what the live-server tests, the service fixtures and the
benchmarks need around a process they start: a free loopback port, waiting until a TCP port
listens or an HTTP health URL answers (watching the process, with the tail of its log in the
error), and stopping a process with what is left of its process group. The waits fail
loudly (``RuntimeError`` unless told otherwise); nothing here skips.

Only the standard library is imported at module level (``httpx`` only once a health URL
is polled), so the benchmarks can import it cheaply.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

LOOPBACK = "127.0.0.1"
TAIL_LINES = 80
"""Lines of a process's log quoted in an error."""

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (at the time of asking)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def log_tail(log: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``log`` ("" while it does not exist)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _program(proc: subprocess.Popen[bytes]) -> str:
    """The name of the program ``proc`` runs, for messages."""
    args = proc.args
    if isinstance(args, str | bytes):
        first = os.fsdecode(args).split()[0]
    elif isinstance(args, os.PathLike):
        first = os.fsdecode(args)
    else:
        first = os.fsdecode(args[0])
    return Path(first).name


def wait_until(
    check: Callable[[], T | None],
    what: str,
    *,
    timeout: float,
    interval: float = 0.2,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    error: type[Exception] = RuntimeError,
) -> T:
    """Poll ``check`` until it returns something truthy; return that.

    Raises ``error`` when ``proc`` exits first or after ``timeout`` seconds, with the tail
    of ``log`` (the process's output) in the message.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            problem = f"{_program(proc)} exited ({proc.returncode}) while waiting for {what}"
            raise error(problem + (f":\n{log_tail(log)}" if log is not None else ""))
        value = check()
        if value:
            return value
        time.sleep(interval)
    problem = f"timed out after {timeout}s waiting for {what}"
    raise error(problem + (f":\n{log_tail(log)}" if log is not None else ""))


def wait_for_port(
    port: int,
    timeout: float = 30.0,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Wait until something accepts TCP connections on ``127.0.0.1:port``."""

    def listening() -> bool:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(
        listening,
        f"{LOOPBACK}:{port} to listen",
        timeout=timeout,
        interval=0.05,
        proc=proc,
        log=log,
    )


def wait_for_health(
    url: str,
    proc: subprocess.Popen[bytes],
    log: Path,
    *,
    timeout: float = 60.0,
    statuses: Collection[int] = (200,),
) -> None:
    """Wait until a GET of ``url`` answers with one of ``statuses`` while ``proc`` runs."""
    import httpx

    def healthy() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code in statuses
        except httpx.HTTPError:
            return False

    codes = "/".join(str(s) for s in statuses)
    wait_until(healthy, f"HTTP {codes} from {url}", timeout=timeout, proc=proc, log=log)


def stop_process(
    proc: subprocess.Popen[bytes],
    *,
    signum: int = signal.SIGTERM,
    timeout: float = 20.0,
    group: bool = True,
) -> None:
    """Stop ``proc``: ``signum``, up to ``timeout`` seconds to exit, then SIGKILL.

    With ``group`` (the process was started with ``start_new_session=True``, so it leads its
    own process group) what is left of the group is killed too: code servers, run workers.
    """
    if proc.poll() is None:
        proc.send_signal(signum)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def running(
    cmd: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str],
    cwd: Path,
    signum: int = signal.SIGTERM,
    stop_timeout: float = 20.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` in its own process group, stdout and stderr into ``log``; stopped on exit
    with :func:`stop_process` (``signum`` first, the whole group last)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop_process(proc, signum=signum, timeout=stop_timeout)
