"""`asyncio` and `uvloop`: asyncio streams, one coroutine per connection.

Exercise 06 starter: this file takes the place of the lab's `lab/io/streams.py`.
`_Peer.wake`, `_Peer.send`, `StreamsServer._main` and `_serve` are yours; the deadline
heap (`_Deadline`, `_Deadlines`), the timer (`arm`, `on_timer`), `tick` (with
`tick_when_drained`), `serve_forever`, `_on_loop_error` and `stop` are given. Keep the
names and signatures.

Each connection is a coroutine that awaits `reader.read()`: waiting costs a suspended
coroutine and a transport (~5 KiB), not a thread. Everything else happens in callbacks
on the loop thread: a publisher on any thread wakes a connection with
`call_soon_threadsafe`, and a deadline per connection (re-armed only when it moves
earlier, checked when it comes) enforces timeouts. The deadlines wait in one heap behind
one loop timer (`_Deadlines`), not a loop timer each: an idle connection then costs ~80
bytes for its deadline instead of ~220 (asyncio) or ~600 (uvloop, a libuv timer handle
each). `uvloop` runs this same code on libuv's loop instead of the standard one.
"""
from __future__ import annotations

import asyncio
import heapq
import logging
import socket
from time import monotonic

from ..app import App
from ..config import ServerConfig
from ..connection import Connection
from .listener import OUT_OF_RESOURCES, open_listener, raise_fd_limit, tune

__all__ = ["StreamsServer"]

log = logging.getLogger("lab")

READ_SIZE = 65536


class _Deadline:
    """One connection's deadline, waiting in the server's `_Deadlines` heap."""

    __slots__ = ("when", "peer", "deadlines")

    def __init__(self, when: float, peer: _Peer, deadlines: _Deadlines) -> None:
        self.when = when
        self.peer: _Peer | None = peer  # None: cancelled, or handed to the peer already
        self.deadlines = deadlines

    def __lt__(self, other: _Deadline) -> bool:
        return self.when < other.when

    def cancel(self) -> None:
        if self.peer is not None:
            self.peer = None
            self.deadlines.cancelled += 1
            self.deadlines.compact()


class _Deadlines:
    """Every connection's deadline in one heap, behind one loop timer set for the earliest.

    When the timer fires, each entry that is due goes to its peer's `on_timer`, which
    checks the connection's deadline as a timer of its own would. A cancelled entry stays
    in the heap, inert, until it comes due or until cancelled ones are half the heap (then
    the heap is rebuilt): asyncio treats its own cancelled timers the same way."""

    __slots__ = ("loop", "heap", "timer", "timer_at", "cancelled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.heap: list[_Deadline] = []
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at: float | None = None  # the deadline the loop timer is set for
        self.cancelled = 0

    def add(self, when: float, peer: _Peer) -> _Deadline:
        entry = _Deadline(when, peer, self)
        heapq.heappush(self.heap, entry)
        if self.timer_at is None or when < self.timer_at:
            self._set_timer(when)
        return entry

    def _set_timer(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = when
        self.timer = self.loop.call_later(max(0.0, when - monotonic()), self._fire)

    def _fire(self) -> None:
        self.timer = self.timer_at = None
        heap = self.heap
        now = monotonic()
        due: list[_Peer] = []
        while heap and heap[0].when <= now:
            entry = heapq.heappop(heap)
            if entry.peer is None:
                self.cancelled -= 1
            else:
                due.append(entry.peer)
                entry.peer = None
        for peer in due:  # after the heap is settled: each may add an entry of its own
            peer.on_timer()
        if heap and (self.timer_at is None or heap[0].when < self.timer_at):
            self._set_timer(heap[0].when)

    def compact(self) -> None:
        if self.cancelled > 64 and 2 * self.cancelled > len(self.heap):
            self.heap = [entry for entry in self.heap if entry.peer is not None]
            heapq.heapify(self.heap)
            self.cancelled = 0


class _Peer:
    """One connection's state outside its coroutine: what callbacks need to reach."""

    __slots__ = ("conn", "writer", "transport", "timer", "armed_for", "loop", "config", "woken", "held",
                 "deadlines")

    def __init__(self, writer: asyncio.StreamWriter, loop: asyncio.AbstractEventLoop,
                 config: ServerConfig, deadlines: _Deadlines) -> None:
        self.writer = writer
        # Writes go to the transport itself: StreamWriter.write() and is_closing() only
        # forward to it, a Python call each on every answer.
        self.transport = writer.transport
        self.loop = loop
        self.config = config
        self.deadlines = deadlines
        self.timer: _Deadline | None = None
        self.armed_for: float | None = None  # the deadline the timer is set for
        self.woken = False  # a tick is already scheduled for a wake-up
        self.held: asyncio.Task | None = None  # a tick held back until the client drains
        self.conn: Connection
        # The transport pauses writing whenever bytes wait unsent, and resumes (drain()
        # returns) once the kernel has taken them all.
        self.transport.set_write_buffer_limits(high=0)

    def wake(self) -> None:  # any thread
        # One tick answers every wake-up before it: a publish burst of 100 messages
        # schedules one tick per subscriber, not 100.
        raise NotImplementedError(
            "wake: called from ANY thread (an offload worker, a publisher): hand self.tick "
            "to the loop with self.loop.call_soon_threadsafe - never touch the writer from "
            "another thread; self.woken: one scheduled tick answers a burst of wake-ups"
        )

    def tick(self) -> None:
        self.woken = False  # before ticking: a wake-up from now on needs a new tick
        if self.transport.get_write_buffer_size():
            # A stream or a WebSocket would add output behind what the client has not
            # taken: hold the tick back (it is a cursor into the broker, nothing piles
            # up) until the kernel has taken it all, or drop the client after
            # keepalive_timeout, the bound the thread models put on sendall().
            if self.held is None:
                self.held = self.loop.create_task(self.tick_when_drained())
            return
        self.send(self.conn.tick())

    async def tick_when_drained(self) -> None:
        try:
            await asyncio.wait_for(self.writer.drain(), self.config.keepalive_timeout)
        except (asyncio.TimeoutError, ConnectionError):
            self.held = None
            self.conn.connection_lost()
            self.transport.abort()
            return
        self.held = None
        if not self.writer.is_closing():
            self.tick()

    def send(self, out: bytes) -> None:
        raise NotImplementedError(
            "send: write out (unless the writer is closing; when bytes were still unsent "
            "and unsent + len(out) is past config.max_send_buffer: conn.connection_lost() "
            "and abort the transport); then close the writer if the connection is closing, "
            "else self.arm() the timer"
        )

    def arm(self) -> None:
        deadline = self.conn.deadline
        if deadline is None:
            return
        if self.armed_for is None or deadline < self.armed_for:
            if self.timer is not None:
                self.timer.cancel()
            self.armed_for = deadline
            self.timer = self.deadlines.add(deadline, self)

    def on_timer(self) -> None:
        self.timer = self.armed_for = None
        deadline = self.conn.deadline
        if deadline is not None and deadline <= monotonic():
            self.tick()
        else:
            self.arm()


class StreamsServer:
    io_name = "asyncio"

    def __init__(self, app: App, config: ServerConfig, *, use_uvloop: bool = False) -> None:
        raise_fd_limit()
        self.app = app
        self.config = config
        self.use_uvloop = use_uvloop
        if use_uvloop:
            self.io_name = "uvloop"
        self.listener = open_listener(config.host, config.port, config.backlog)
        self.address = self.listener.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._peers: set[_Peer] = set()
        self._short_until = 0.0  # out of fds: warned, quiet until then
        self._deadlines: _Deadlines | None = None

    def serve_forever(self) -> None:
        factory = None
        if self.use_uvloop:
            import uvloop
            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(self._main())

    async def _main(self) -> None:
        raise NotImplementedError(
            "_main: remember the running loop, set_exception_handler(self._on_loop_error), "
            "self._deadlines = _Deadlines(loop), an asyncio.Event for stop(), "
            "asyncio.start_server(self._serve, sock=self.listener, backlog=...); async with "
            "it: await the event, close the server, close idle peers, wait (asyncio.sleep, "
            "up to config.shutdown_grace) for the rest, abort what is left and give their "
            "coroutines a moment to return"
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError(
            "_serve: one coroutine per connection: tune the socket, a _Peer(writer, "
            "self._loop, self.config, self._deadlines) with a Connection(app, config, "
            "peer.wake), add it to self._peers, peer.arm(); loop until conn.closing: await "
            "writer.drain() first while the transport still holds unsent bytes "
            "(backpressure), data = await reader.read(READ_SIZE) (OSError: stop), "
            "peer.send(conn.receive_data(data)), stop at b''. Finally: forget the peer, "
            "cancel its timer and its held tick, conn.connection_lost(), close the writer"
        )

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        """Out of file descriptors, the standard loop's accept loop (CPython before
        python/cpython#151615) does not stop at the first EMFILE: it retries once per
        backlog slot (4096), logging a traceback and scheduling a resume each time, and
        those resumes fail with ValueError if the listener has closed since. Say it once
        a second, in one line; anything else goes to the default handler."""
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in OUT_OF_RESOURCES:
            now = monotonic()
            if now >= self._short_until:
                log.warning("accept() failed: %s; asyncio retries in 1 s", exc.strerror)
                self._short_until = now + 1.0
            return
        if (isinstance(exc, ValueError) and self.listener.fileno() < 0
                and "_start_serving" in context.get("message", "")):
            return  # one of those resumes, firing after shutdown closed the listener
        loop.default_exception_handler(context)

    def stop(self) -> None:
        """Safe from a signal handler or another thread."""
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None:
            loop.call_soon_threadsafe(stopped.set)
