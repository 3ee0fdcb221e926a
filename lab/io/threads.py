"""`threads`: a new thread per connection.

Waiting costs a thread (its stack, ~20 KiB of RSS when idle, a kernel task) per client,
but a slow client holds only its own thread. No bound: 10,000 clients, 10,000 threads.
"""
from __future__ import annotations

import socket
import threading
from time import monotonic

from .sync import SyncServer, start_thread

__all__ = ["ThreadsServer"]


class ThreadsServer(SyncServer):
    io_name = "threads"

    def dispatch(self, sock: socket.socket) -> None:
        start_thread(threading.Thread(target=self.handle, args=(sock,), daemon=True))

    def finish(self) -> None:
        give_up = monotonic() + self.config.shutdown_grace
        while self._live and monotonic() < give_up:
            threading.Event().wait(0.02)
        self.force_close()
