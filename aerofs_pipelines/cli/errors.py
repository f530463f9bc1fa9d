"""The ``aerofs`` command's own error: a problem with the user's input."""

from __future__ import annotations


class InputError(Exception):
    """A problem with the user's input, reported as one line and exit code 1."""
