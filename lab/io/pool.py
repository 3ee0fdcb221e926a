"""`pool`: a fixed pool of worker threads (`--workers N`).

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
        super().__init__(app, config)
        self._queue: queue.Queue[socket.socket | None] = queue.Queue()
        self._workers = [
            threading.Thread(target=self._work, name=f"worker-{i}", daemon=True)
            for i in range(config.workers)
        ]
        for worker in self._workers:
            start_thread(worker)

    def dispatch(self, sock: socket.socket) -> None:
        self._queue.put(sock)

    def _work(self) -> None:
        while (sock := self._queue.get()) is not None:
            self.handle(sock)

    def finish(self) -> None:
        # Connections still queued were never served: close them.
        while True:
            try:
                sock = self._queue.get_nowait()
            except queue.Empty:
                break
            if sock is not None:
                sock.close()
        for _ in self._workers:
            self._queue.put(None)
        give_up = monotonic() + self.config.shutdown_grace
        for worker in self._workers:
            worker.join(max(0.0, give_up - monotonic()))
        self.force_close()
