"""JSON from the network, parsed without surprises: every failure is a ``ValueError``.

The standard library raises ``RecursionError`` for input nested a few thousand levels
deep, which would otherwise surface as a 500; a body that is not UTF-8 raises
``UnicodeDecodeError``. Both become ``ValueError`` here, for GraphQL bodies and variables,
login bodies and WebSocket frames alike.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["parse_json"]


def parse_json(raw: bytes | str) -> Any:
    """The JSON value of ``raw``; ValueError when it is not JSON, not UTF-8, or nested
    too deeply for the parser."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc.reason}") from None
