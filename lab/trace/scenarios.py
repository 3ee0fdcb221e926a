"""Scenarios for `lab trace`: small clients that talk to the lab over plain sockets.

Each scenario is a function that gets the server's address and a deadline and returns
one `Exchange` per connection it opened: its local port and exactly the bytes it sent
and received. The tests compare those bytes with what the capture reassembles, so a
client records every byte it writes and every byte it reads, and reads until the
server closes (or a short bound passes) so nothing the server sent is left out.

The clients speak just enough HTTP to know where a response ends (Content-Length,
chunked, or end of connection): they are probes, not the lab's parsers, which the
annotator uses on the captured streams.

A scenario whose endpoint the lab does not serve yet raises `ScenarioUnavailable`
(e.g. 404 on its first request); the CLI reports that as "not available yet".
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable

__all__ = ["Exchange", "Scenario", "ScenarioUnavailable", "SCENARIOS", "Client"]

Address = tuple[str, int]

# How long a client waits for the server to close after the client has finished
# (half-close first): long enough on loopback, short enough for an open stream.
DRAIN_SECONDS = 2.0
RECV_SIZE = 65536


class ScenarioUnavailable(Exception):
    """The lab does not serve what this scenario needs (yet)."""


@dataclass(frozen=True)
class Exchange:
    """What one client connection sent and received, byte for byte."""

    client_port: int
    sent: bytes
    received: bytes
    # The byte tap: (wall-clock time, ">" sent or "<" received, bytes) per call.
    calls: tuple[tuple[float, str, bytes], ...] = ()


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class Client:
    """A blocking TCP client that keeps a copy of every byte sent and received."""

    def __init__(self, address: Address, deadline: float) -> None:
        self.deadline = deadline
        self.sock = socket.create_connection(address, timeout=self._left())
        # One segment per write, as the scenario intends (see FACTS: Nagle + delayed
        # ACK otherwise merge writes and add ~40 ms).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = self.sock.getsockname()[1]
        self.sent = bytearray()
        self.received = bytearray()
        self.buffer = bytearray()  # received but not yet consumed by a read_* call
        self.eof = False
        self.calls: list[tuple[float, str, bytes]] = []

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("scenario deadline passed")
        return left

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.sent += data
        self.calls.append((time.time(), ">", data))

    def _recv(self, timeout: float | None = None) -> bytes:
        self.sock.settimeout(min(self._left(), timeout) if timeout else self._left())
        data = self.sock.recv(RECV_SIZE)
        if not data:
            self.eof = True
        else:
            self.calls.append((time.time(), "<", data))
        self.received += data
        self.buffer += data
        return data

    def read_until(self, marker: bytes) -> bytes:
        """Consume and return the buffer up to and including ``marker``."""
        start = 0
        while (i := self.buffer.find(marker, start)) < 0:
            start = max(0, len(self.buffer) - len(marker) + 1)
            if self.eof or not self._recv():
                raise ConnectionError(f"connection closed before {marker!r}")
        end = i + len(marker)
        out = bytes(self.buffer[:end])
        del self.buffer[:end]
        return out

    def read_exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if self.eof or not self._recv():
                raise ConnectionError("connection closed in the middle of a body")
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def read_to_eof(self, bound: float | None = None) -> bytes:
        end = time.monotonic() + bound if bound else self.deadline
        try:
            while not self.eof and time.monotonic() < end:
                self._recv(timeout=max(0.01, end - time.monotonic()))
        except (TimeoutError, socket.timeout):
            pass
        except ConnectionResetError:
            self.eof = True
        out = bytes(self.buffer)
        self.buffer.clear()
        return out

    def read_head(self) -> tuple[int, list[tuple[str, str]]]:
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *lines = head[:-4].split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP response: {status_line[:80]!r}")
        status = int(parts[1])
        headers = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines)]
        return status, headers

    def read_response(self, method: str = "GET") -> Response:
        status, headers = self.read_head()
        response = Response(status, headers, b"")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return response
        if "chunked" in (response.header("Transfer-Encoding") or "").lower():
            body = bytearray()
            while size := int(self.read_until(b"\r\n").split(b";")[0], 16):
                body += self.read_exactly(size)
                self.read_exactly(2)
            while self.read_until(b"\r\n") != b"\r\n":  # trailer fields
                pass
            return Response(status, headers, bytes(body))
        length = response.header("Content-Length")
        if length is not None:
            return Response(status, headers, self.read_exactly(int(length)))
        return Response(status, headers, self.read_to_eof())

    def finish(self) -> Exchange:
        """Half-close, read whatever the server still sends until it closes, close."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.read_to_eof(DRAIN_SECONDS)
        except OSError:
            pass
        self.sock.close()
        return Exchange(self.port, bytes(self.sent), bytes(self.received), tuple(self.calls))


def request(method: str, target: str, address: Address, headers: list[tuple[str, str]] | None = None,
            body: bytes | None = None) -> bytes:
    """Bytes of one request with Host and, for a body, Content-Length."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {address[0]}:{address[1]}"]
    fields = list(headers or [])
    if body is not None and not any(n.lower() in ("content-length", "transfer-encoding") for n, _ in fields):
        fields.append(("Content-Length", str(len(body))))
    lines += [f"{n}: {v}" for n, v in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def _require_status(response: Response, expected: int, what: str) -> None:
    """A different answer means the lab does not serve this pattern (yet)."""
    if response.status != expected:
        raise ScenarioUnavailable(f"the lab answers {response.status} to {what}, not {expected}")


# --- the scenarios -----------------------------------------------------------------


def hello(address: Address, deadline: float) -> list[Exchange]:
    """One GET, one response, then both sides close."""
    client = Client(address, deadline)
    client.send(request("GET", "/", address, [("Connection", "close")]))
    client.read_response()
    return [client.finish()]


def keepalive(address: Address, deadline: float) -> list[Exchange]:
    """Three pipelined GETs in one write on one connection; the last asks to close."""
    client = Client(address, deadline)
    client.send(
        request("GET", "/one", address)
        + request("GET", "/two", address)
        + request("GET", "/three", address, [("Connection", "close")])
    )
    for _ in range(3):
        client.read_response()
    return [client.finish()]


def chunked(address: Address, deadline: float) -> list[Exchange]:
    """A chunked upload to /echo: each chunk its own write, then a trailer field."""
    client = Client(address, deadline)
    client.send(
        request("POST", "/echo", address,
                [("Transfer-Encoding", "chunked"), ("Trailer", "X-Checksum"),
                 ("Content-Type", "text/plain"), ("Connection", "close")])
    )
    for chunk in (b"Hello, ", b"chunked ", b"world!\n"):
        client.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        time.sleep(0.02)  # let each chunk leave as its own segment
    client.send(b"0\r\nX-Checksum: 42\r\n\r\n")
    response = client.read_response("POST")
    _require_status(response, 200, "POST /echo")
    return [client.finish()]


def bad_request(address: Address, deadline: float) -> list[Exchange]:
    """A header line without a colon: the lab answers 400 and closes."""
    client = Client(address, deadline)
    client.send(b"GET / HTTP/1.1\r\nHost: %s:%d\r\nThis line has no colon\r\n\r\n"
                % (address[0].encode(), address[1]))
    client.read_response()
    return [client.finish()]


def shortpoll(address: Address, deadline: float) -> list[Exchange]:
    """POST /jobs, then GET its Location every 200 ms until the job is done."""
    client = Client(address, deadline)
    client.send(request("POST", "/jobs", address, [("Content-Type", "application/json")],
                        json.dumps({"seconds": 0.5}).encode()))
    created = client.read_response("POST")
    _require_status(created, 202, "POST /jobs")
    location = created.header("Location") or ""
    for _ in range(30):
        client.send(request("GET", location, address))
        state = json.loads(client.read_response().body or b"{}").get("state")
        if state not in ("queued", "running", "pending"):
            break
        time.sleep(0.2)
    return [client.finish()]


def longpoll(address: Address, deadline: float) -> list[Exchange]:
    """POST /jobs, then one GET ?wait=5 that the lab holds until the job is done."""
    client = Client(address, deadline)
    client.send(request("POST", "/jobs", address, [("Content-Type", "application/json")],
                        json.dumps({"seconds": 0.5}).encode()))
    created = client.read_response("POST")
    _require_status(created, 202, "POST /jobs")
    client.send(request("GET", f"{created.header('Location')}?wait=5", address, [("Connection", "close")]))
    client.read_response()
    return [client.finish()]


def sse(address: Address, deadline: float) -> list[Exchange]:
    """Subscribe to /topics/trace/events, publish two messages on a second connection."""
    topic = f"/topics/trace-{os.getpid()}"
    stream = Client(address, deadline)
    stream.send(request("GET", f"{topic}/events", address, [("Accept", "text/event-stream")]))
    status, headers = stream.read_head()
    if status != 200:
        stream.finish()
        raise ScenarioUnavailable(f"the lab answers {status} to GET {topic}/events, not 200")
    publisher = Client(address, deadline)
    for message in (b"first", b"second"):
        publisher.send(request("POST", topic, address, [("Content-Type", "text/plain")], message))
        publisher.read_response("POST")
    seen = 0
    while seen < 2 and not stream.eof:
        stream._recv()
        seen = stream.received.count(b"\ndata:") + stream.received.count(b"\rdata:")
    return [stream.finish(), publisher.finish()]


def websocket(address: Address, deadline: float) -> list[Exchange]:
    """Upgrade on /topics/trace/ws, send a masked text frame, read the push, close."""
    topic = f"/topics/trace-ws-{os.getpid()}"
    key = base64.b64encode(os.urandom(16)).decode()
    client = Client(address, deadline)
    client.send(request("GET", f"{topic}/ws", address,
                        [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                         ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
    status, _ = client.read_head()
    if status != 101:
        client.finish()
        raise ScenarioUnavailable(f"the lab answers {status} to the WebSocket upgrade, not 101")
    client.send(_masked_frame(0x1, b"hello from the client"))
    _read_frame(client)  # the lab pushes the published message back
    client.send(_masked_frame(0x8, (1000).to_bytes(2, "big")))
    while True:
        opcode = _read_frame(client)
        if opcode == 0x8:
            break
    return [client.finish()]


def upload(address: Address, deadline: float) -> list[Exchange]:
    """tus: create, PATCH half and drop the connection, HEAD for the offset, resume."""
    data = bytes(range(256)) * 64  # 16 KiB
    tus = [("Tus-Resumable", "1.0.0")]
    first = Client(address, deadline)
    first.send(request("POST", "/files/", address, tus + [("Upload-Length", str(len(data)))], b""))
    created = first.read_response("POST")
    _require_status(created, 201, "POST /files/")
    location = created.header("Location") or ""
    half = len(data) // 2
    first.send(request("PATCH", location, address,
                       tus + [("Upload-Offset", "0"), ("Content-Type", "application/offset+octet-stream"),
                              ("Content-Length", str(len(data)))], b""))
    first.send(data[:half])
    time.sleep(0.1)
    first_exchange = first.finish()  # the dropped connection: the body stops halfway
    second = Client(address, deadline)
    second.send(request("HEAD", location, address, tus))
    offset = int(second.read_response("HEAD").header("Upload-Offset") or 0)
    second.send(request("PATCH", location, address,
                        tus + [("Upload-Offset", str(offset)), ("Content-Type", "application/offset+octet-stream"),
                               ("Connection", "close")], data[offset:]))
    second.read_response("PATCH")
    return [first_exchange, second.finish()]


def _masked_frame(opcode: int, payload: bytes) -> bytes:
    """A final client frame (RFC 6455 section 5.2): clients must mask (section 5.3)."""
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def _read_frame(client: Client) -> int:
    first, second = client.read_exactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(client.read_exactly(2), "big")
    elif length == 127:
        length = int.from_bytes(client.read_exactly(8), "big")
    client.read_exactly(length + (4 if second & 0x80 else 0))
    return first & 0x0F


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    app: str  # the app `lab serve --app` runs for it
    run: Callable[[Address, float], list[Exchange]]
    expected: tuple[str, ...]  # element names the annotation must contain
    seconds: float = 15.0  # deadline for the client


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("hello", "one GET and its response on a fresh connection, then FIN both ways",
                 "hello", hello, ("request line", "header field line", "end of headers", "status line", "body")),
        Scenario("keepalive", "three pipelined GETs in one segment, three responses, one connection",
                 "hello", keepalive, ("request line", "status line", "body")),
        Scenario("chunked", "a chunked upload to /echo (chunk-size lines, last chunk, trailer)",
                 "echo", chunked, ("chunk-size line", "chunk data", "last chunk", "trailer field line", "status line")),
        Scenario("bad-request", "a malformed header line: the 400 answer and the close",
                 "hello", bad_request, ("request line", "malformed", "status line")),
        Scenario("upload", "resumable upload (tus): a dropped connection, HEAD, resume",
                 "lab", upload, ("request line", "status line", "body"), 20.0),
        Scenario("shortpoll", "POST /jobs then GET its handle until done, on one keep-alive connection",
                 "lab", shortpoll, ("request line", "status line", "body")),
        Scenario("longpoll", "POST /jobs then one GET ?wait= the lab holds until the job is done",
                 "lab", longpoll, ("request line", "status line", "body")),
        Scenario("sse", "an EventSource stream of /topics/T/events and two publishes",
                 "lab", sse, ("status line", "SSE event")),
        Scenario("websocket", "a WebSocket upgrade, a masked client frame, the push, the close",
                 "lab", websocket, ("status line", "WebSocket frame")),
    )
}
