"""The six I/O models: thin adapters that move bytes between sockets and one
`Connection`. Read them side by side: only the waiting differs."""
from __future__ import annotations

from typing import Protocol

from ..app import App
from ..config import IO_MODELS, ServerConfig

__all__ = ["Server", "make_server", "IO_MODELS"]


class Server(Protocol):
    io_name: str
    address: tuple[str, int]

    def serve_forever(self) -> None: ...
    def stop(self) -> None: ...


def make_server(app: App, config: ServerConfig) -> Server:
    io = config.io
    if io == "blocking":
        from .blocking import BlockingServer
        return BlockingServer(app, config)
    if io == "threads":
        from .threads import ThreadsServer
        return ThreadsServer(app, config)
    if io == "pool":
        from .pool import PoolServer
        return PoolServer(app, config)
    if io == "epoll":
        from .epoll import EpollServer
        return EpollServer(app, config)
    if io in ("asyncio", "uvloop"):
        from .streams import StreamsServer
        return StreamsServer(app, config, use_uvloop=io == "uvloop")
    raise ValueError(f"unknown I/O model {io!r}; choose from {', '.join(IO_MODELS)}")
