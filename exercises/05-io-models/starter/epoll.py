"""`epoll`: one thread, non-blocking sockets, `selectors.DefaultSelector` (epoll on Linux).

Exercise 05 starter: this file takes the place of the lab's `lab/io/epoll.py`. The loop
(`serve_forever`), accepting, reading and writing are yours; closing, the wake-up
eventfd, the timer heap and shutdown are given. Keep the names and signatures.

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
import os
import selectors
import socket
from collections import deque
from itertools import count
from time import monotonic

from ..app import App
from ..config import ServerConfig
from ..connection import Connection
from .listener import open_listener, raise_fd_limit, tune

__all__ = ["EpollServer"]

READ_SIZE = 65536
_LISTENER, _WAKER = object(), object()


class _Peer:
    __slots__ = ("sock", "conn", "out", "timer", "events", "gone")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn: Connection
        self.out = bytearray()  # what the kernel would not take yet
        self.timer: float | None = None  # the deadline our heap entry is for
        self.events = selectors.EVENT_READ
        self.gone = False


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

    # -- the loop -----------------------------------------------------------------
    def serve_forever(self) -> None:
        raise NotImplementedError(
            'serve_forever: until stopping (then until no peers or _stop_at): timeout = the earliest timer (self._timers[0][0] - now) or None (0.05 while stopping); for key, mask in self.selector.select(timeout): _LISTENER -> self._accept(), _WAKER -> self._drain_wakeups(), a _Peer -> _flush on EVENT_WRITE, _read on EVENT_READ; then self._run_timers() (and self._close_idle() when stopping). Finally close every peer, the selector, the listener and the eventfd'
        )

    def _accept(self) -> None:
        raise NotImplementedError(
            '_accept: accept until BlockingIOError (the listener is non-blocking; EMFILE: try next round); per socket: tune(sock), setblocking(False), a _Peer with a Connection whose wake is lambda p=peer: self._wake(p), add to self._peers, register for EVENT_READ with the peer as data, self._schedule(peer)'
        )

    def _read(self, peer: _Peer) -> None:
        raise NotImplementedError(
            "_read: one recv (BlockingIOError: nothing; other OSError: treat as b''), self._send(peer, peer.conn.receive_data(data)); on b'' mark the connection closing and self._finish(peer)"
        )

    # -- writing ------------------------------------------------------------------
    def _send(self, peer: _Peer, out: bytes) -> None:
        raise NotImplementedError(
            '_send: if bytes are already waiting in peer.out, append (close a peer whose backlog is past config.max_send_buffer); else send what the kernel takes now and keep the rest in peer.out; watch EVENT_WRITE exactly while peer.out is not empty (_want_write); then self._finish(peer)'
        )

    def _flush(self, peer: _Peer) -> None:
        raise NotImplementedError(
            '_flush: the socket is writable again: send from peer.out, del what went, stop watching EVENT_WRITE when empty, self._finish(peer)'
        )

    def _want_write(self, peer: _Peer, want: bool) -> None:
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
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
            if not peer.gone:
                self._send(peer, peer.conn.tick())

    def _schedule(self, peer: _Peer) -> None:
        deadline = peer.conn.deadline
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
            deadline = peer.conn.deadline
            if deadline is not None and deadline <= now:
                self._send(peer, peer.conn.tick())
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
            self.selector.unregister(self.listener)
            self.listener.close()
        for peer in list(self._peers):
            peer.conn.stopping = True
            if peer.conn.idle and not peer.out:
                self._close(peer)
