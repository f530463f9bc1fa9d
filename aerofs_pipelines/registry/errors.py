"""The registry's error."""

from __future__ import annotations


class RegistryError(ValueError):
    """The registry YAML is malformed; the message says where."""
