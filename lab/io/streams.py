"""`asyncio` and `uvloop`: asyncio streams, one coroutine per connection.

Each connection is a coroutine that awaits `reader.read()`: waiting costs a suspended
coroutine and a transport (~5 KiB), not a thread. Everything else happens in callbacks
on the loop thread: a publisher on any thread wakes a connection with
`call_soon_threadsafe`, and one timer per connection (re-armed only when its deadline
moves earlier, checked when it fires) enforces timeouts. `uvloop` runs this same code on
libuv's loop instead of the standard one.
"""
from __future__ import annotations

import asyncio
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


class _Peer:
    """One connection's state outside its coroutine: what callbacks need to reach."""

    __slots__ = ("conn", "writer", "timer", "armed_for", "loop", "config")

    def __init__(self, writer: asyncio.StreamWriter, loop: asyncio.AbstractEventLoop,
                 config: ServerConfig) -> None:
        self.writer = writer
        self.loop = loop
        self.config = config
        self.timer: asyncio.TimerHandle | None = None
        self.armed_for: float | None = None  # the deadline the timer is set for
        self.conn: Connection

    def wake(self) -> None:  # any thread
        self.loop.call_soon_threadsafe(self.tick)

    def tick(self) -> None:
        self.send(self.conn.tick())

    def send(self, out: bytes) -> None:
        writer = self.writer
        if out and not writer.is_closing():
            if writer.transport.get_write_buffer_size() > self.config.max_send_buffer:
                # A client that stops reading may not grow our memory without bound.
                # Checked before writing, not after: one large response (its body is in
                # memory already) may exceed the limit for a client that reads.
                self.conn.connection_lost()
                writer.transport.abort()
                return
            writer.write(out)
        if self.conn.closing:
            if not writer.is_closing():
                writer.close()
        else:
            self.arm()

    def arm(self) -> None:
        deadline = self.conn.deadline
        if deadline is None:
            return
        if self.armed_for is None or deadline < self.armed_for:
            if self.timer is not None:
                self.timer.cancel()
            self.armed_for = deadline
            self.timer = self.loop.call_later(max(0.0, deadline - monotonic()), self.on_timer)

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

    def serve_forever(self) -> None:
        factory = None
        if self.use_uvloop:
            import uvloop
            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(self._on_loop_error)
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._serve, sock=self.listener,
                                            backlog=self.config.backlog)
        async with server:
            await self._stopped.wait()
            server.close()  # stop accepting
            for peer in list(self._peers):
                peer.conn.stopping = True
                if peer.conn.idle:
                    peer.writer.close()
            give_up = monotonic() + self.config.shutdown_grace
            while self._peers and monotonic() < give_up:
                await asyncio.sleep(0.02)
            for peer in list(self._peers):
                peer.writer.transport.abort()
            # Let the aborted connections' coroutines see their end and return: a task
            # still pending when the runner closes the loop is cancelled, and asyncio
            # logs that cancellation with a traceback.
            give_up = monotonic() + 1.0
            while self._peers and monotonic() < give_up:
                await asyncio.sleep(0.01)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock: socket.socket = writer.get_extra_info("socket")
        tune(sock)
        peer = _Peer(writer, self._loop, self.config)
        conn = peer.conn = Connection(self.app, self.config, peer.wake)
        # Accepted just before stop() but started after it: answer once, then close.
        conn.stopping = self._stopped is not None and self._stopped.is_set()
        self._peers.add(peer)
        try:
            peer.arm()
            while not conn.closing:
                try:
                    if writer.transport.get_write_buffer_size():
                        # The client is behind on reading: read no more from it until
                        # it catches up, or the answers to what it pipelines meanwhile
                        # pile up here (a blocked sendall() does this for threads).
                        await writer.drain()
                    data = await reader.read(READ_SIZE)
                except OSError:
                    break
                peer.send(conn.receive_data(data))
                if not data:
                    break
        finally:
            self._peers.discard(peer)
            if peer.timer is not None:
                peer.timer.cancel()
            conn.connection_lost()
            if not writer.is_closing():
                writer.close()

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
