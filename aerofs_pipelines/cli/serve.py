"""``aerofs serve``: the gateway, Dagster's webserver app and the daemon (see ``serve``).

Only the standard library is imported here; the server is imported when the command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from aerofs_pipelines.cli.arguments import int_in_range


def cmd_serve(args: argparse.Namespace) -> int:
    from aerofs_pipelines import config
    from aerofs_pipelines.api import batch_api
    from aerofs_pipelines.gateway.identity.secrets import MissingSecretKey
    from aerofs_pipelines.gateway.serve import serve

    try:
        return serve(
            args.host or config.serve_host(),
            args.port or config.serve_port(),
            workspace=args.workspace,
            daemon=not args.no_daemon,
            log_level=args.log_level,
            mounts=lambda instance: [batch_api(instance)],
        )
    except MissingSecretKey as exc:
        raise ValueError(str(exc)) from None


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``serve`` to the ``aerofs`` parser."""
    p = sub.add_parser(
        "serve",
        help="run the platform: gateway + Dagster UI/GraphQL + daemon",
        description=(
            "Serve the Dagster UI and GraphQL API behind the gateway (login, roles, API "
            "tokens, audit) on the configured instance, and run the Dagster daemon."
        ),
    )
    p.add_argument(
        "--host",
        default=None,
        help="interface to listen on (default: $AEROFS_HOST or 127.0.0.1)",
    )
    p.add_argument(
        "--port",
        type=int_in_range(1, 65535, what="a port number"),
        default=None,
        help="port (default: $AEROFS_PORT or 3000)",
    )
    p.add_argument(
        "-w",
        "--workspace",
        metavar="FILE",
        help="Dagster workspace file (default: ./workspace.yaml if present, else the package)",
    )
    p.add_argument("--no-daemon", action="store_true", help="do not start the Dagster daemon")
    p.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug"),
        default="info",
        help="server log level (default: info)",
    )
    p.set_defaults(func=cmd_serve)
