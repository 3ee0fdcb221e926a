"""What the three thread-based models share: one blocking loop per connection.

`blocking`, `threads` and `pool` run exactly this loop; they differ only in who runs it
(the accepting thread itself, a new thread, a worker from a fixed pool). A thread waits
the plain way: blocked in `recv()`. When its answer is pending (a long poll, a stream),
it blocks in `poll()` on two fds instead: the socket (the client may leave) and an
eventfd that a publisher on another thread writes to wake it.
"""
from __future__ import annotations

import logging
import os
import select
import socket
import threading
from time import monotonic

from ..app import App
from ..config import ServerConfig
from ..connection import Connection
from .listener import ACCEPT_RETRY_DELAY, OUT_OF_RESOURCES, open_listener, raise_fd_limit, tune

__all__ = ["SyncServer", "Waker"]

log = logging.getLogger("lab")

READ_SIZE = 65536


class Waker:
    """An eventfd, made only when first needed: most connections never wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd = -1
        self._woken = False

    def wake(self) -> None:  # any thread
        with self._lock:
            if self._fd < 0:
                self._woken = True
            else:
                os.eventfd_write(self._fd, 1)

    def wait(self, sock: socket.socket, timeout: float | None) -> tuple[bool, bool]:
        """Block until the socket is readable or we are woken: (readable, woken)."""
        with self._lock:
            if self._fd < 0:
                self._fd = os.eventfd(int(self._woken), os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        poller.register(self._fd, select.POLLIN)
        ready = dict(poller.poll(None if timeout is None else timeout * 1000))
        woken = self._fd in ready
        if woken:
            os.eventfd_read(self._fd)
        return sock.fileno() in ready, woken

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def serve_connection(sock: socket.socket, conn: Connection, waker: Waker, send_timeout: float) -> None:
    """Read, feed, drain, write: until the connection ends."""
    try:
        while not conn.closing:
            deadline = conn.deadline
            timeout = None if deadline is None else max(0.0, deadline - monotonic())
            if conn.waiting:
                readable, _ = waker.wait(sock, timeout)
                out = conn.receive_data(sock.recv(READ_SIZE)) if readable else conn.tick()
            else:
                sock.settimeout(timeout)
                try:
                    data = sock.recv(READ_SIZE)
                except (TimeoutError, BlockingIOError):
                    # A deadline already due gives settimeout(0.0), which makes the
                    # socket non-blocking: recv() then raises BlockingIOError, not
                    # TimeoutError. Either way the deadline has come: tick (408).
                    out = conn.tick()
                else:
                    out = conn.receive_data(data)
                    if not data:
                        conn.closing = True
            if out:
                sock.settimeout(send_timeout)  # a client that stops reading is dropped
                sock.sendall(out)
    except OSError:  # reset, broken pipe, send timeout: the client is gone
        pass
    finally:
        conn.connection_lost()


class SyncServer:
    """Accepts connections and hands each to `dispatch`; subclasses choose dispatch."""

    io_name = "blocking"

    def __init__(self, app: App, config: ServerConfig) -> None:
        raise_fd_limit()
        self.app = app
        self.config = config
        self.listener = open_listener(config.host, config.port, config.backlog)
        self.address = self.listener.getsockname()[:2]
        self.stopping = threading.Event()
        # A reentrant lock: stop() may run in a signal handler on a thread that holds it.
        self._lock = threading.RLock()
        self._live: dict[socket.socket, Connection] = {}

    def serve_forever(self) -> None:
        short = False  # out of file descriptors at the last accept()
        try:
            while not self.stopping.is_set():
                try:
                    sock, _ = self.listener.accept()
                except OSError as exc:
                    if self.stopping.is_set():
                        break
                    if exc.errno not in OUT_OF_RESOURCES:
                        raise
                    # EMFILE and friends: every fd is in use, and accepting again at
                    # once would fail again. The client waits in the backlog; retry
                    # when some connection may have ended (stop() cuts the wait short).
                    if not short:  # once per shortage, not ten times a second
                        log.warning("accept() failed: %s; retrying every %.1f s",
                                    exc.strerror, ACCEPT_RETRY_DELAY)
                        short = True
                    self.stopping.wait(ACCEPT_RETRY_DELAY)
                    continue
                short = False
                tune(sock)
                self.dispatch(sock)
        finally:
            self.listener.close()
            self.finish()

    def dispatch(self, sock: socket.socket) -> None:
        self.handle(sock)

    def finish(self) -> None:
        """After the accept loop: let in-flight connections end (subclasses wait)."""

    def handle(self, sock: socket.socket) -> None:
        waker = Waker()
        conn = Connection(self.app, self.config, waker.wake)
        with self._lock:
            self._live[sock] = conn
            if self.stopping.is_set():
                conn.stopping = True
        try:
            serve_connection(sock, conn, waker, self.config.keepalive_timeout)
        finally:
            with self._lock:
                del self._live[sock]
            waker.close()
            sock.close()

    def stop(self) -> None:
        """Stop accepting; idle connections close now, busy ones after their answer."""
        self.stopping.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
        except OSError:
            pass
        with self._lock:
            for sock, conn in list(self._live.items()):
                conn.stopping = True
                if conn.idle:
                    _shutdown(sock, socket.SHUT_RD)

    def force_close(self) -> None:
        with self._lock:
            for sock in list(self._live):
                _shutdown(sock, socket.SHUT_RDWR)


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass
