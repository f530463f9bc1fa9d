"""What ``aerofs users``, ``tokens`` and ``audit`` share: the gateway store they act on
(the instance's database, migrated first) and the actor they are audited as
(``cli:<os user>``)."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ADDRESS = "local"

__all__ = ["ADDRESS", "actor", "open_store", "role"]


def actor() -> str:
    """Who the audit log records: ``cli:<os user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def open_store() -> Iterator[Any]:
    """The instance's store, migrated; disposed of on exit."""
    import sqlalchemy.exc

    from aerofs_pipelines.gateway.store import GatewayStore, StoreError

    store = GatewayStore.for_instance()
    try:
        try:
            store.migrate()
        except sqlalchemy.exc.OperationalError as exc:
            raise StoreError(f"cannot open the gateway database: {exc.orig}") from None
        yield store
    finally:
        store.dispose()


def role(value: str) -> Any:
    from aerofs_pipelines.gateway.auth.roles import Role

    try:
        return Role.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
