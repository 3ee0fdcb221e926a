"""`pool`: a fixed pool of worker threads (`--workers N`).

Exercise 05 starter: this file takes the place of the lab's `lab/io/pool.py`. Keep the
names and signatures; replace each `raise NotImplementedError(...)`. `SyncServer`
(`sync.py`: the accept loop, `handle(sock)` serving one connection to its end) is the lab's.

Accepted connections queue until a worker is free. Memory and threads stay bounded,
but a worker serves one connection until it ends: N keep-alive clients, or N waiting
long polls, occupy the whole pool and the next client waits in the queue.
"""
from __future__ import annotations

import queue
import socket
import threading
from time import monotonic

from ..app import App
from ..config import ServerConfig
from .sync import SyncServer, start_thread

__all__ = ["PoolServer"]


class PoolServer(SyncServer):
    io_name = "pool"

    def __init__(self, app: App, config: ServerConfig) -> None:
        raise NotImplementedError(
            "__init__: super().__init__(app, config); a queue.Queue of accepted sockets; "
            "config.workers threads (threading.Thread, daemon, named worker-i) running "
            "self._work, started here with start_thread (so signals reach the main thread): "
            "the pool exists before the first client"
        )

    def dispatch(self, sock: socket.socket) -> None:
        raise NotImplementedError(
            "dispatch: called by the accept loop for each connection: put it on the queue "
            "(never serve it here: that is the serial server)"
        )

    def _work(self) -> None:
        raise NotImplementedError(
            "_work: take sockets off the queue and self.handle(sock) each, until a None "
            "arrives"
        )

    def finish(self) -> None:
        # Connections still queued were never served: close them.
        raise NotImplementedError(
            "finish: close the queued sockets never served, put one None per worker, join "
            "them within config.shutdown_grace in all (a monotonic() deadline), then "
            "self.force_close()"
        )
