"""The session signing key (``AEROFS_SECRET_KEY``).

- ``secret_key() -> str``: the variable when set (at least 32 characters); otherwise, in
  the embedded default (no PostgreSQL configured and ``AEROFS_ENV`` != ``production``),
  a key generated once and kept in the gateway's private folder
  (``<DAGSTER_HOME>/gateway/secret_key``, mode 0600; :mod:`private`).
  Anywhere else: ``MissingSecretKey`` with what to do.
- ``is_embedded_default() -> bool``: the rule above, shared with the admin bootstrap.
"""

from __future__ import annotations

import os
import secrets as _random
from pathlib import Path

from aerofs_pipelines import config
from aerofs_pipelines.gateway import private

MIN_KEY_LENGTH = 32


class MissingSecretKey(RuntimeError):
    """No usable session key: the server must not start."""


def is_embedded_default() -> bool:
    """SQLite instance storage and not declared production."""
    return config.postgres_url() is None and not config.production()


def key_file() -> Path:
    """Where the embedded default keeps its generated key."""
    return private.key_path()


def secret_key() -> str:
    """The session signing key; MissingSecretKey when none may be used."""
    value = config.secret_key()
    if value:
        if len(value) < MIN_KEY_LENGTH:
            raise MissingSecretKey(
                f"AEROFS_SECRET_KEY is too short ({len(value)} characters, at least "
                f"{MIN_KEY_LENGTH}); generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return value
    if not is_embedded_default():
        raise MissingSecretKey(
            "AEROFS_SECRET_KEY is not set; it is required outside the embedded default "
            "(PostgreSQL configured or AEROFS_ENV=production). Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return _embedded_key(key_file())


def _embedded_key(path: Path) -> str:
    """Read the key file, creating it (0600) on first use; concurrent starters agree."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{_random.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(_random.token_urlsafe(48) + "\n")
        try:
            os.link(tmp, path)  # atomic, and never replaces a key another process wrote
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text(encoding="ascii").strip()
    if len(key) < MIN_KEY_LENGTH:
        raise MissingSecretKey(f"{path} holds no usable key; delete it to generate a new one")
    return key
