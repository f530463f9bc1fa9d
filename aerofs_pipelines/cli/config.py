"""``aerofs config [--json]``: the effective configuration, and where each value comes from.

Every setting of :mod:`aerofs_pipelines.config` with its value (secrets masked) and its
source (``environment`` or ``default``). A value a setting does not accept is one line on
stderr naming the variable and what it accepts, and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from aerofs_pipelines.cli.printing import emit_json, print_table


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple | frozenset | set):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def cmd_config(args: argparse.Namespace) -> int:
    from aerofs_pipelines import config

    found = config.effective()
    bad = [e for e in found if e.error is not None]
    if bad:
        for e in bad:
            sys.stderr.write(f"aerofs: error: {e.error}\n")
        return 2
    if args.json:
        emit_json(
            {
                "settings": [
                    {
                        "name": e.setting.name,
                        "value": json.loads(json.dumps(e.value, default=str)),
                        "source": e.source,
                        "group": e.setting.group,
                        "help": e.setting.help,
                    }
                    for e in found
                ]
            }
        )
        return 0
    rows = [["NAME", "VALUE", "SOURCE", "WHAT"]]
    rows += [[e.setting.name, _shown(e.value), e.source, e.setting.help] for e in found]
    print_table(rows)
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``config`` to the ``aerofs`` parser."""
    p = sub.add_parser(
        "config",
        help="show the effective configuration",
        description="Print every setting with its value (secrets masked) and where it comes "
        "from (environment or default). A bad value: one line naming it, exit code 2.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_config)
