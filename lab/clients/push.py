"""The lab's own push clients: an SSE reader and a WebSocket client, over plain sockets.

No third-party library: HTTP responses are read with `protocols.http1.ResponseParser`,
event streams with `protocols.sse.EventStreamParser` (the spec's algorithm), WebSocket
frames with `protocols.websocket.WebSocketConnection(client_side=True)` (masks what it
sends, refuses a masked frame from the server). Tests, benchmarks and the dashboard's
grader read the server with these, so what they check is what the spec says.

Blocking clients (one socket each, for tests and scripts):

    publish(address, "news", b"hi")                  -> offset (POST /topics/news)
    with SSEClient(address, "news", last_event_id="3") as sse:
        sse.status, sse.headers; sse.next_event(timeout=5) -> protocols.sse.Event
    with WebSocketClient(address, "/topics/news/ws") as ws:
        ws.send_text("hi"); ws.receive(timeout=5) -> Message / Pong / Close
        ws.close(1000)                                 -> the server's Close

asyncio clients (one loop holds thousands of them cheaply; used by `push_bench`):

    wire, parser = await open_sse(host, port, topic)       # past the 200 head
    wire, ws = await open_websocket(host, port, path)      # past the 101
    wire.sent, wire.received                               # bytes so far

Every client counts the bytes it sent and received (`bytes_sent`, `bytes_received`):
application bytes on the socket, TCP/IP headers not included.
"""
from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Iterator

from protocols.errors import WebSocketError
from protocols.http1 import (
    NEED_DATA, ConnectionClosed, Data, EndOfMessage, Response, ResponseParser, format_request,
)
from protocols.sse import Event, EventStreamParser
from protocols.websocket import NEED_DATA as WS_NEED_DATA
from protocols.websocket import (
    END_OF_STREAM, Close, Message, Ping, Pong, State, WebSocketConnection,
    check_server_response, client_handshake_request,
)

__all__ = [
    "publish", "get_json", "SSEClient", "WebSocketClient", "open_sse", "open_websocket",
    "read_head", "Wire",
]

Address = tuple[str, int]
READ_SIZE = 65536


def _host(address: Address) -> bytes:
    return b"%s:%d" % (address[0].encode(), address[1])


def _request(address: Address, method: bytes, target: bytes, body: bytes | None = None,
             timeout: float = 10.0) -> tuple[int, bytes]:
    """One request on a fresh connection: (status, body)."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(format_request(method, target, [(b"Host", _host(address)),
                                                     (b"Connection", b"close")], body))
        parser = ResponseParser()
        parser.expect(method)
        status, parts = 0, []
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                parser.receive_data(sock.recv(READ_SIZE))
            elif isinstance(event, Response):
                status = event.status
            elif isinstance(event, Data):
                parts.append(event.data)
            elif isinstance(event, (EndOfMessage, ConnectionClosed)):
                return status, b"".join(parts)


def publish(address: Address, topic: str, data: bytes) -> int:
    """POST /topics/{topic}: the offset the broker gave the message."""
    status, body = _request(address, b"POST", f"/topics/{topic}".encode(), data)
    if status != 201:
        raise RuntimeError(f"publish answered {status}: {body[:200]!r}")
    return json.loads(body)["offset"]


def get_json(address: Address, target: str) -> object:
    status, body = _request(address, b"GET", target.encode())
    if status != 200:
        raise RuntimeError(f"GET {target} answered {status}: {body[:200]!r}")
    return json.loads(body)


class _Counted:
    """A blocking socket that counts its bytes."""

    def __init__(self, address: Address, timeout: float) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.bytes_sent = 0
        self.bytes_received = 0

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.bytes_sent += len(data)

    def recv(self, timeout: float | None) -> bytes:
        self.sock.settimeout(timeout)
        data = self.sock.recv(READ_SIZE)
        self.bytes_received += len(data)
        return data

    def close(self) -> None:
        self.sock.close()


class SSEClient:
    """GET an event stream and read it event by event, exactly as the spec parses."""

    def __init__(self, address: Address, topic: str | None = None, *, path: str | None = None,
                 last_event_id: str | None = None, comments: bool = False,
                 timeout: float = 10.0) -> None:
        target = (path or f"/topics/{topic}/events").encode()
        headers = [(b"Host", _host(address)), (b"Accept", b"text/event-stream")]
        if last_event_id is not None:
            headers.append((b"Last-Event-ID", last_event_id.encode()))
        self.io = _Counted(address, timeout)
        self.timeout = timeout
        self.parser = ResponseParser()
        self.parser.expect(b"GET")
        self.events = EventStreamParser(comments=comments)
        self.ended = False  # the server ended the body (or closed)
        self._ready: list = []
        self.io.send(format_request(b"GET", target, headers))
        head = self._next_http(timeout)
        assert isinstance(head, Response), head
        self.status, self.headers = head.status, head.headers

    def header(self, name: bytes) -> bytes | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return values[-1] if values else None

    def _next_http(self, timeout: float | None):
        while True:
            event = self.parser.next_event()
            if event is not NEED_DATA:
                return event
            self.parser.receive_data(self.io.recv(timeout))

    def next_event(self, timeout: float | None = None):
        """The next `Event` (or `Comment` if asked for); None once the body ended.
        `TimeoutError` if nothing completes in time."""
        give_up = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self._ready:
            if self.ended:
                return None
            left = give_up - time.monotonic()
            if left <= 0:
                raise TimeoutError("no event in time")
            event = self._next_http(left)
            if isinstance(event, Data):
                self._ready.extend(self.events.receive_data(event.data))
            else:  # EndOfMessage or ConnectionClosed: the stream is over
                self.ended = True
                self._ready.extend(self.events.receive_data(b""))
        return self._ready.pop(0)

    def iter_events(self, count: int, timeout: float | None = None) -> Iterator[Event]:
        for _ in range(count):
            event = self.next_event(timeout)
            if event is None:
                return
            yield event

    def close(self) -> None:
        self.io.close()

    def __enter__(self) -> SSEClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WebSocketClient:
    """A blocking WebSocket client: the handshake, then frames through the sans-I/O core."""

    def __init__(self, address: Address, path: str, *, timeout: float = 10.0,
                 max_message: int = 64 << 20) -> None:
        self.io = _Counted(address, timeout)
        self.timeout = timeout
        request, key = client_handshake_request(_host(address).decode(), path)
        self.io.send(request)
        parser = ResponseParser()
        parser.expect(b"GET")
        while (event := parser.next_event()) is NEED_DATA:
            parser.receive_data(self.io.recv(timeout))
        assert isinstance(event, Response), event
        self.status, self.headers = event.status, event.headers
        self.ws = WebSocketConnection(client_side=True, max_message=max_message)
        if event.status != 101:
            self.close()
            return
        check_server_response(event.status, event.headers, key)
        assert parser.next_event() == EndOfMessage()
        trailing = parser.trailing_data()
        if trailing:
            self.ws.receive_data(trailing)

    def send_text(self, text: str) -> None:
        self.io.send(self.ws.send_text(text))

    def send_binary(self, data: bytes) -> None:
        self.io.send(self.ws.send_binary(data))

    def ping(self, payload: bytes = b"") -> None:
        self.io.send(self.ws.send_ping(payload))

    def send_raw(self, data: bytes) -> None:
        """Bytes the core would never send (tests of what a rude client does)."""
        self.io.send(data)

    def receive(self, timeout: float | None = None):
        """The next Message, Ping, Pong or Close; END_OF_STREAM once TCP closed."""
        give_up = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            event = self.ws.next_event()  # may raise WebSocketError
            out = self.ws.data_to_send()
            if out:
                try:
                    self.io.send(out)
                except OSError:
                    pass
            if event is not WS_NEED_DATA:
                return event
            left = give_up - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame in time")
            self.ws.receive_data(self.io.recv(left))

    def receive_json(self, timeout: float | None = None) -> dict:
        """The next data message as JSON (the server's `{"offset","data"}`), skipping
        Pongs."""
        while True:
            event = self.receive(timeout)
            if isinstance(event, Message):
                return json.loads(event.data)
            if not isinstance(event, (Ping, Pong)):
                raise AssertionError(f"expected a message, got {event!r}")

    def close(self, code: int = 1000, reason: str = "") -> Close | None:
        """Start the closing handshake; the server's Close, or None if it is gone."""
        try:
            if self.ws.state is State.OPEN:
                self.io.send(self.ws.send_close(code, reason))
                while True:
                    event = self.receive()
                    if isinstance(event, Close) or event is END_OF_STREAM:
                        return event if isinstance(event, Close) else None
        except (OSError, TimeoutError, WebSocketError):
            return None
        finally:
            self.io.close()
        return None

    def __enter__(self) -> WebSocketClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.io.close()


# -- asyncio: thousands of subscribers on one loop -------------------------------------

class Wire:
    """An asyncio connection that counts the application bytes it moves."""

    __slots__ = ("reader", "writer", "sent", "received", "leftover")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.sent = self.received = 0
        self.leftover = b""  # what came right behind a response head

    @classmethod
    async def open(cls, host: str, port: int) -> Wire:
        reader, writer = await asyncio.open_connection(host, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def read(self) -> bytes:
        data = await self.reader.read(READ_SIZE)
        self.received += len(data)
        return data

    def write(self, data: bytes) -> None:
        self.sent += len(data)
        self.writer.write(data)

    def close(self) -> None:
        self.writer.close()


async def read_head(wire: Wire, parser: ResponseParser) -> Response:
    while (event := parser.next_event()) is NEED_DATA:
        data = await wire.read()
        if not data:
            raise ConnectionError("server closed before answering")
        parser.receive_data(data)
    if not isinstance(event, Response):
        raise ConnectionError(f"expected a response head, got {event!r}")
    return event


async def open_sse(host: str, port: int, topic: str, *, after: int | None = None
                   ) -> tuple[Wire, ResponseParser]:
    """Connect and GET the topic's event stream; returns once the 200 head is read.
    Read the body through the returned parser (it holds what came behind the head)."""
    wire = await Wire.open(host, port)
    target = f"/topics/{topic}/events" + (f"?after={after}" if after is not None else "")
    wire.write(format_request(b"GET", target.encode(), [(b"Host", f"{host}:{port}".encode())]))
    parser = ResponseParser()
    parser.expect(b"GET")
    head = await read_head(wire, parser)
    if head.status != 200:
        wire.close()
        raise ConnectionError(f"SSE answered {head.status}")
    return wire, parser


async def open_websocket(host: str, port: int, path: str, *, max_message: int = 64 << 20
                         ) -> tuple[Wire, WebSocketConnection]:
    """Connect and complete the handshake; the connection holds any trailing bytes."""
    wire = await Wire.open(host, port)
    request, key = client_handshake_request(f"{host}:{port}", path)
    wire.write(request)
    parser = ResponseParser()
    parser.expect(b"GET")
    head = await read_head(wire, parser)
    check_server_response(head.status, head.headers, key)
    parser.next_event()  # the 101's (empty) EndOfMessage
    ws = WebSocketConnection(client_side=True, max_message=max_message)
    trailing = wire.leftover = parser.trailing_data()
    if trailing:
        ws.receive_data(trailing)
    return wire, ws
