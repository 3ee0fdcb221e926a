"""`asyncio` and `uvloop`: asyncio streams, one coroutine per connection.

Exercise 06 starter: this file takes the place of the lab's `lab/io/streams.py`.
`_Peer.wake`, `_Peer.send`, `StreamsServer._main` and `_serve` are yours; the timer
(`arm`, `on_timer`), `serve_forever` and `stop` are given. Keep the names and signatures.

Each connection is a coroutine that awaits `reader.read()`: waiting costs a suspended
coroutine and a transport (~5 KiB), not a thread. Everything else happens in callbacks
on the loop thread: a publisher on any thread wakes a connection with
`call_soon_threadsafe`, and one timer per connection (re-armed only when its deadline
moves earlier, checked when it fires) enforces timeouts. `uvloop` runs this same code on
libuv's loop instead of the standard one.
"""
from __future__ import annotations

import asyncio
import socket
from time import monotonic

from ..app import App
from ..config import ServerConfig
from ..connection import Connection
from .listener import open_listener, raise_fd_limit, tune

__all__ = ["StreamsServer"]

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
        raise NotImplementedError(
            'wake: called from ANY thread (an offload worker, a publisher): hand self.tick to the loop with self.loop.call_soon_threadsafe - never touch the writer from another thread'
        )

    def send(self, out: bytes) -> None:
        raise NotImplementedError(
            'send: write out (unless the writer is closing; abort the transport when its write buffer is past config.max_send_buffer); then close the writer if the connection is closing, else self.arm() the timer'
        )

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

    def serve_forever(self) -> None:
        factory = None
        if self.use_uvloop:
            import uvloop
            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(self._main())

    async def _main(self) -> None:
        raise NotImplementedError(
            '_main: remember the running loop, an asyncio.Event for stop(), asyncio.start_server(self._serve, sock=self.listener, backlog=...); async with it: await the event, close the server, close idle peers, wait (asyncio.sleep, up to config.shutdown_grace) for the rest, abort what is left'
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError(
            "_serve: one coroutine per connection: tune the socket, a _Peer with a Connection(app, config, peer.wake), add it to self._peers, peer.arm(); loop until conn.closing: data = await reader.read(READ_SIZE) (OSError: stop), peer.send(conn.receive_data(data)), stop at b''. Finally: forget the peer, cancel its timer, conn.connection_lost(), close the writer"
        )

    def stop(self) -> None:
        """Safe from a signal handler or another thread."""
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None:
            loop.call_soon_threadsafe(stopped.set)
