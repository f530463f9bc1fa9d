"""Roles: ``viewer`` < ``launcher`` < ``editor`` < ``admin`` (named as in Dagster+)."""

from __future__ import annotations

import enum


class Role(enum.IntEnum):
    """A role; comparisons follow the hierarchy (``Role.editor >= Role.launcher``)."""

    viewer = 1
    launcher = 2
    editor = 3
    admin = 4

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role called ``name``; ValueError naming the valid roles otherwise."""
        try:
            return cls[name.strip().lower()]
        except KeyError:
            valid = ", ".join(r.name for r in cls)
            raise ValueError(f"unknown role {name!r} (valid: {valid})") from None
