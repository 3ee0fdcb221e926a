"""`blocking`: one connection at a time, plain blocking sockets.

The accepting thread serves each connection itself, to its end. While it does, other
clients wait in the listen backlog: a keep-alive client, or a long poll, holds the whole
server. That is the lesson; everything else in `lab/io/` is a way around it.
"""
from __future__ import annotations

from .sync import SyncServer

__all__ = ["BlockingServer"]


class BlockingServer(SyncServer):
    io_name = "blocking"
    # dispatch = SyncServer.dispatch: serve the connection right here, to its end.
