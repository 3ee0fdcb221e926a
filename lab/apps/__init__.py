"""The lab's apps: `hello`, `echo`, and `lab` (every pattern on one port)."""
from __future__ import annotations

from ..app import App
from ..config import ServerConfig

__all__ = ["make_app"]


def make_app(name: str, config: ServerConfig) -> App:
    if name == "hello":
        from .hello import hello
        return hello
    if name == "echo":
        from .echo import echo
        return echo
    if name == "lab":
        from .lab import make_lab_app
        return make_lab_app(config)
    raise ValueError(f"unknown app {name!r}")
