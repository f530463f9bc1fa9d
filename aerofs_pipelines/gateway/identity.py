"""Who is calling: the authenticated principal every gateway layer passes along."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aerofs_pipelines.gateway.roles import Role

AuthMethod = Literal["session", "token", "header"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user, the role in effect, and how they authenticated.

    ``role`` is the effective role: for a token, the token's scope (never above its
    user's role).
    """

    username: str
    role: Role
    via: AuthMethod
    session_id: str | None = None
    token_id: str | None = None
