"""Who is calling: the authenticated principal every gateway layer passes along, and
the credential that proved it (kept so a long-lived WebSocket can check it again)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from aerofs_pipelines.gateway.auth.roles import Role

AuthMethod = Literal["session", "token", "header"]
CredentialKind = Literal["token", "session", "user"]


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


@dataclass(frozen=True)
class Credential:
    """What a request presented: a bearer token, a session cookie or an SSO user name.

    ``ambient``: the browser sends it on its own (cookie, SSO header through the proxy),
    so writes made with it need CSRF proof.
    """

    kind: CredentialKind
    secret: str = field(repr=False)
    ambient: bool


@dataclass(frozen=True)
class Caller:
    """A request's principal and the credential it was resolved from."""

    principal: Principal
    credential: Credential
