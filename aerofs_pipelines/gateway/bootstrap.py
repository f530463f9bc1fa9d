"""First start: make sure someone can log in.

``ensure_admin(store)``: when no user exists, create ``AEROFS_ADMIN_USER`` (default
``admin``) with role admin and the password from ``AEROFS_ADMIN_PASSWORD``; without it,
in the embedded default only, a generated password printed once. Outside the embedded
default with neither, it prints how to create one. ``prepare_store()`` is what
``aerofs serve`` runs before serving: key check, store, migrations, first admin.
"""

from __future__ import annotations

import sys
from typing import TextIO

from aerofs_pipelines import config
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.passwords import generate_password
from aerofs_pipelines.gateway.identity.secrets import is_embedded_default, secret_key
from aerofs_pipelines.gateway.store import GatewayStore, UserExists
from aerofs_pipelines.gateway.store.audit import retention_days

ACTOR = "bootstrap"


def ensure_admin(store: GatewayStore, *, out: TextIO | None = None) -> str | None:
    """Create the first admin if there is no user; its name, or None if none was made."""
    out = out or sys.stderr
    if store.users.count() > 0:
        return None
    name = config.admin_user()
    password = config.admin_password() or ""
    generated = not password
    if generated:
        if not is_embedded_default():
            out.write(
                "aerofs: no gateway user exists; create an admin with "
                "`aerofs users add NAME --role admin` (or set AEROFS_ADMIN_PASSWORD)\n"
            )
            return None
        password = generate_password()
    try:
        store.users.add(name, Role.admin, password, actor=ACTOR, address="local")
    except UserExists:  # another process got there first
        return None
    if generated:
        out.write(
            "\n"
            f"  aerofs: created the first admin user {name!r}; its one-time password is\n"
            f"\n      {password}\n\n"
            "  It is not stored in clear anywhere and will not be shown again: log in and\n"
            f"  change it (`aerofs users passwd {name}`), or set AEROFS_ADMIN_PASSWORD.\n\n"
        )
    else:
        out.write(f"aerofs: created the first admin user {name!r} from AEROFS_ADMIN_PASSWORD\n")
    out.flush()
    return name


def prepare_store(*, out: TextIO | None = None) -> GatewayStore:
    """The instance's store, migrated, with a first admin; MissingSecretKey when the
    session key is missing outside the embedded default (so the server refuses to start)."""
    key = secret_key()
    retention_days()  # a bad AEROFS_AUDIT_RETENTION_DAYS fails the start, not later
    store = GatewayStore.for_instance(secret_key=key)
    store.migrate()
    ensure_admin(store, out=out)
    return store
