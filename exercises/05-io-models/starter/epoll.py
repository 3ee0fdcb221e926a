"""`epoll`: one thread, non-blocking sockets, `selectors.DefaultSelector` (epoll on Linux).

Exercise 05 starter: this file takes the place of the lab's `lab/io/epoll.py`. The loop
(`serve_forever`), accepting, reading and writing are yours; closing, the wake-up
eventfd, the timer heap (with `_tick`, which holds a tick back while the client is
behind), pausing accept() when out of fds, and shutdown are given. Keep the names and
signatures.

The thread never blocks on a client: it asks the kernel which sockets are ready and
serves only those. Waiting costs a registration (~0.5 KiB per idle connection), not a
thread. Three kinds of wake-up reach `select()`:
- a socket is readable (or writable again, when a reply did not fit the send buffer);
- the eventfd: another thread (or this one) published, and `_woken` lists whom to tick;
- a timer: the earliest connection deadline, kept in a heap. Deadlines only move later
  on the hot path, so a connection keeps one heap entry that is re-checked when due,
  instead of one push per request.
"""
from __future__ import annotations

import heapq
import logging
import os
import selectors
import socket
from collections import deque
from itertools import count
from time import monotonic

from ..app import App
from ..config import ServerConfig
from ..connection import Connection
from .listener import ACCEPT_RETRY_DELAY, OUT_OF_RESOURCES, open_listener, raise_fd_limit, tune

__all__ = ["EpollServer"]

log = logging.getLogger("lab")

READ_SIZE = 65536
_LISTENER, _WAKER = object(), object()


class _Peer:
    __slots__ = ("sock", "conn", "out", "timer", "events", "gone", "woken", "stalled_at")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn: Connection
        self.out = bytearray()  # what the kernel would not take yet
        self.timer: float | None = None  # the deadline our heap entry is for
        self.events = selectors.EVENT_READ
        self.gone = False
        self.woken = False  # queued in _woken, not ticked yet
        # A tick is held back until the client takes what is unsent (see _tick); when.
        self.stalled_at: float | None = None


class EpollServer:
    io_name = "epoll"

    def __init__(self, app: App, config: ServerConfig) -> None:
        raise_fd_limit()
        self.app = app
        self.config = config
        self.listener = open_listener(config.host, config.port, config.backlog)
        self.listener.setblocking(False)
        self.address = self.listener.getsockname()[:2]
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, _LISTENER)
        self._wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.selector.register(self._wakefd, selectors.EVENT_READ, _WAKER)
        self._woken: deque[_Peer] = deque()  # appended from any thread
        self._timers: list[tuple[float, int, _Peer]] = []
        self._seq = count()
        self._peers: set[_Peer] = set()
        self._stopping = False
        self._stop_at: float | None = None
        self._accept_at: float | None = None  # out of fds: when to watch the listener again
        self._short = False  # out of fds at the last accept()

    # -- the loop -----------------------------------------------------------------
    def serve_forever(self) -> None:
        raise NotImplementedError(
            "serve_forever: until stopping (then until no peers or _stop_at): timeout = the "
            "earliest timer (self._timers[0][0] - now) or None (0.05 while stopping; while "
            "accepting is paused, no later than self._accept_at); for key, mask in "
            "self.selector.select(timeout): _LISTENER -> self._accept(), _WAKER -> "
            "self._drain_wakeups(), a _Peer -> _flush on EVENT_WRITE, _read on EVENT_READ; "
            "then self._run_timers(), and self._close_idle() when stopping, else "
            "re-register the listener once self._accept_at has passed. Finally close every "
            "peer, the selector, the listener and the eventfd"
        )

    def _accept(self) -> None:
        raise NotImplementedError(
            "_accept: accept until BlockingIOError (the listener is non-blocking); an errno "
            "in OUT_OF_RESOURCES (EMFILE...): self._pause_accepting(exc) and return; per "
            "socket: self._short = False, tune(sock), setblocking(False), a _Peer with a "
            "Connection whose wake is lambda p=peer: self._wake(p) (and stopping = "
            "self._stopping), add to self._peers, register for EVENT_READ with the peer as "
            "data, self._schedule(peer)"
        )

    def _pause_accepting(self, exc: OSError) -> None:
        """Out of file descriptors: the client waits in the backlog, so the listener
        stays readable and select() would return at once, forever (a busy loop). Stop
        watching it for a moment; connections that end meanwhile free fds."""
        if not self._short:  # once per shortage, not ten times a second
            log.warning("accept() failed: %s; retrying every %.1f s", exc.strerror, ACCEPT_RETRY_DELAY)
            self._short = True
        self.selector.unregister(self.listener)
        self._accept_at = monotonic() + ACCEPT_RETRY_DELAY

    def _read(self, peer: _Peer) -> None:
        raise NotImplementedError(
            "_read: one recv (BlockingIOError: nothing; other OSError: treat as b''), "
            "self._send(peer, peer.conn.receive_data(data)); on b'' mark the connection "
            "closing and self._finish(peer)"
        )

    # -- writing ------------------------------------------------------------------
    def _send(self, peer: _Peer, out: bytes) -> None:
        raise NotImplementedError(
            "_send: if bytes are already waiting in peer.out, append; else send what the "
            "kernel takes now (BlockingIOError: nothing went; other OSError: close) and "
            "keep the rest in peer.out; watch EVENT_WRITE exactly while peer.out is not "
            "empty (_want_write); then self._finish(peer)"
        )

    def _flush(self, peer: _Peer) -> None:
        raise NotImplementedError(
            "_flush: the socket is writable again: send from peer.out, del what went, "
            "_want_write(peer, bool(peer.out)); once empty with a tick held back "
            "(peer.stalled_at, see _tick), clear stalled_at and self._send(peer, "
            "peer.conn.tick()); else self._finish(peer)"
        )

    def _want_write(self, peer: _Peer, want: bool) -> None:
        # While the client is behind on reading, read no more from it either: requests
        # it pipelines meanwhile would only pile answers onto `out` (backpressure, as
        # a blocked sendall() gives the thread models for free).
        events = selectors.EVENT_WRITE if want else selectors.EVENT_READ
        if events != peer.events:
            peer.events = events
            self.selector.modify(peer.sock, events, peer)

    def _finish(self, peer: _Peer) -> None:
        """Close when the connection is done and its last bytes have left; else make
        sure its deadline is on the timer heap."""
        if peer.gone:
            return
        if peer.conn.closing:
            if not peer.out:
                self._close(peer)
            return
        self._schedule(peer)

    def _close(self, peer: _Peer) -> None:
        if peer.gone:
            return
        peer.gone = True
        peer.conn.connection_lost()
        self._peers.discard(peer)
        self.selector.unregister(peer.sock)
        peer.sock.close()

    # -- wake-ups and timers --------------------------------------------------------
    def _wake(self, peer: _Peer) -> None:  # any thread
        # One tick answers every wake-up before it: a publish burst of 100 messages
        # queues each subscriber once, not 100 times.
        if peer.woken:
            return
        peer.woken = True
        self._woken.append(peer)
        os.eventfd_write(self._wakefd, 1)

    def _drain_wakeups(self) -> None:
        try:
            os.eventfd_read(self._wakefd)
        except BlockingIOError:
            pass
        woken = self._woken
        while woken:
            peer = woken.popleft()
            peer.woken = False  # before ticking: a wake-up from now on queues it again
            if not peer.gone:
                self._tick(peer)

    def _tick(self, peer: _Peer) -> None:
        """Tick a connection, unless its client has not taken what it already has.

        A stream or a WebSocket that is woken would add output behind unsent bytes (the
        kernel's socket buffers are full: the client is behind). It is held back instead
        (it is a cursor into the broker: nothing piles up meanwhile) and ticked as soon
        as `_flush` has handed everything to the kernel. A client that does not take it
        within `keepalive_timeout` is dropped: the bound the thread models put on
        `sendall()`.
        """
        if peer.out:
            if peer.stalled_at is None:
                peer.stalled_at = monotonic()
                self._schedule(peer)
            return
        self._send(peer, peer.conn.tick())

    def _due(self, peer: _Peer) -> float | None:
        if peer.stalled_at is not None:  # only the stall limit: the tick waits for _flush
            return peer.stalled_at + self.config.keepalive_timeout
        return peer.conn.deadline

    def _schedule(self, peer: _Peer) -> None:
        deadline = self._due(peer)
        if deadline is not None and (peer.timer is None or deadline < peer.timer):
            peer.timer = deadline
            heapq.heappush(self._timers, (deadline, next(self._seq), peer))

    def _run_timers(self) -> None:
        timers = self._timers
        now = monotonic()
        while timers and timers[0][0] <= now:
            _, _, peer = heapq.heappop(timers)
            peer.timer = None
            if peer.gone:
                continue
            deadline = self._due(peer)
            if peer.stalled_at is not None and deadline <= now:
                self._close(peer)  # took nothing for keepalive_timeout: it stopped reading
            elif deadline is not None and deadline <= now:
                self._tick(peer)
            else:
                self._schedule(peer)  # the deadline moved on: one fresh entry

    # -- shutdown -----------------------------------------------------------------
    def stop(self) -> None:
        """Safe from a signal handler or another thread: the loop notices on wake-up."""
        if not self._stopping:
            self._stop_at = monotonic() + self.config.shutdown_grace
            self._stopping = True
        os.eventfd_write(self._wakefd, 1)

    def _close_idle(self) -> None:
        if self.listener.fileno() >= 0:
            if self._accept_at is None:  # else it is not registered right now
                self.selector.unregister(self.listener)
            self.listener.close()
        for peer in list(self._peers):
            peer.conn.stopping = True
            if peer.conn.idle and not peer.out:
                self._close(peer)
