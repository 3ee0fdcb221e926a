"""`blocking`: one connection at a time, plain blocking sockets.

The accepting thread serves each connection itself, to its end. While it does, other
clients wait in the listen backlog: a keep-alive client, or a long poll, holds the whole
server. That is the lesson; everything else in `lab/io/` is a way around it.
"""
from __future__ import annotations

import threading

from ..app import App
from ..config import ServerConfig
from .sync import SyncServer, start_thread

__all__ = ["BlockingServer"]


class BlockingServer(SyncServer):
    io_name = "blocking"
    # dispatch = SyncServer.dispatch: serve the connection right here, to its end.

    def __init__(self, app: App, config: ServerConfig) -> None:
        super().__init__(app, config)
        self._grace: threading.Timer | None = None

    def stop(self) -> None:
        super().stop()
        # The thread that would enforce the shutdown grace is the one serving the
        # connection (and running this signal handler), blocked in recv() for as long
        # as the client likes: a timer thread cuts the connection off instead.
        if self._grace is None:
            self._grace = threading.Timer(self.config.shutdown_grace, self.force_close)
            self._grace.daemon = True
            start_thread(self._grace)
