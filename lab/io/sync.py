"""What the three thread-based models share: one blocking loop per connection.

`blocking`, `threads` and `pool` run exactly this loop; they differ only in who runs it
(the accepting thread itself, a new thread, a worker from a fixed pool). A thread waits
the plain way: blocked in `recv()`. When its answer is pending (a long poll, a stream),
it blocks in `poll()` on two fds instead: the socket (the client may leave) and an
eventfd that a publisher on another thread writes to wake it. The accepting thread, too,
waits in `poll()`, on the listener and the signal wake-up fd, so SIGTERM always reaches
it (see `_StopSignals`).
"""
from __future__ import annotations

import logging
import os
import select
import signal
import socket
import threading
import time
from time import monotonic

from ..app import App
from ..config import ServerConfig
from ..connection import Connection
from .listener import ACCEPT_RETRY_DELAY, OUT_OF_RESOURCES, open_listener, raise_fd_limit, tune

__all__ = ["SyncServer", "Waker", "start_thread"]

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


class _StopSignals:
    """Wakes the accept loop when SIGINT or SIGTERM arrives, through the wake-up fd
    the C-level signal handler writes the signal's number to.

    Waiting for Python to run the handler is not enough: while other threads run,
    CPython (3.11) may recompute its "pending work" flag from a thread that cannot
    handle signals and clear it, so the main thread goes back into accept() with the
    handler never run, and the server ignores SIGTERM until the next client. Only the
    main thread may set the wake-up fd; elsewhere this does nothing.
    """

    def __init__(self) -> None:
        self.fd: int | None = None
        self._pair: tuple[socket.socket, socket.socket] | None = None
        self._previous = -1

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            reader, writer = socket.socketpair()
            reader.setblocking(False)
            writer.setblocking(False)
            self._previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            self._pair = (reader, writer)
            self.fd = reader.fileno()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pair is not None:
            signal.set_wakeup_fd(self._previous)
            for sock in self._pair:
                sock.close()

    def stop_requested(self) -> bool:
        """Read the signal numbers written so far: was one of them a stop signal?"""
        assert self._pair is not None
        try:
            numbers = self._pair[0].recv(256)
        except BlockingIOError:
            return False
        return any(number in _STOP_SIGNALS for number in numbers)

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or less if a signal arrives (its handler then runs)."""
        if self.fd is None:
            time.sleep(seconds)
        else:
            select.select([self.fd], [], [], seconds)


# SIGINT and SIGTERM go to the process, and the kernel hands them to any thread that
# does not block them. Python runs its handlers only in the main thread, between
# bytecodes: if a worker takes the signal while the main thread sits in accept(), the
# handler waits for a connection that may never come, and the server does not stop.
# So every thread but the main one blocks them (a new thread inherits the mask).
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def start_thread(thread: threading.Thread) -> None:
    """Start `thread` with SIGINT and SIGTERM blocked in it, so they reach the main thread."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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
        self.listener.setblocking(False)  # accept() only after poll() said it is ready
        with _StopSignals() as signals:
            poller = select.poll()
            poller.register(self.listener, select.POLLIN)
            if signals.fd is not None:
                poller.register(signals.fd, select.POLLIN)
            try:
                while not self.stopping.is_set():
                    ready = dict(poller.poll())
                    if signals.fd in ready and signals.stop_requested():
                        self.stop()
                        break
                    if self.listener.fileno() not in ready:
                        continue
                    try:
                        sock, _ = self.listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as exc:
                        if self.stopping.is_set():
                            break
                        if exc.errno not in OUT_OF_RESOURCES:
                            raise
                        # EMFILE and friends: every fd is in use, and accepting again
                        # at once would fail again. The client waits in the backlog;
                        # retry when some connection may have ended.
                        if not short:  # once per shortage, not ten times a second
                            log.warning("accept() failed: %s; retrying every %.1f s",
                                        exc.strerror, ACCEPT_RETRY_DELAY)
                            short = True
                        signals.sleep(ACCEPT_RETRY_DELAY)
                        continue
                    short = False
                    sock.setblocking(True)
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
