"""Scenarios for `lab trace`: small clients that talk to the lab over plain sockets.

Each scenario is a function that gets the server's address and a deadline and returns
one `Exchange` per connection it opened: its local port and exactly the bytes it sent
and received. The tests compare those bytes with what the capture reassembles, so a
client records every byte it writes and every byte it reads, and reads until the
server closes (or a short bound passes) so nothing the server sent is left out.

The clients speak just enough HTTP to know where a response ends (Content-Length,
chunked, or end of connection): they are probes, not the lab's parsers, which the
annotator uses on the captured streams.

Each scenario checks the answers it needs to go on (a status, a header, a job's
state, the bytes it gets back): when the lab answers otherwise it raises
`ScenarioFailed` saying what it got, and the CLI reports that as a failed scenario.
The endpoints' contracts are in their modules' docstrings (`lab/patterns/`).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable

__all__ = ["Exchange", "Scenario", "ScenarioFailed", "SCENARIOS", "Client"]

Address = tuple[str, int]

# How long a client waits for the server to close after the client has finished
# (half-close first): long enough on loopback, short enough for an open stream.
DRAIN_SECONDS = 2.0
RECV_SIZE = 65536


class ScenarioFailed(Exception):
    """The lab answered something the scenario did not expect (the message says what)."""


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


def _require_status(response: Response | int, expected: int, what: str) -> None:
    status = response if isinstance(response, int) else response.status
    if status != expected:
        raise ScenarioFailed(f"the lab answers {status} to {what}, not {expected}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioFailed(message)


# --- the scenarios -----------------------------------------------------------------


def hello(address: Address, deadline: float) -> list[Exchange]:
    """One GET, one response, then both sides close."""
    client = Client(address, deadline)
    client.send(request("GET", "/", address, [("Connection", "close")]))
    _require_status(client.read_response(), 200, "GET /")
    return [client.finish()]


def keepalive(address: Address, deadline: float) -> list[Exchange]:
    """Three pipelined GETs in one write on one connection; the last asks to close."""
    client = Client(address, deadline)
    client.send(
        request("GET", "/one", address)
        + request("GET", "/two", address)
        + request("GET", "/three", address, [("Connection", "close")])
    )
    for target in ("/one", "/two", "/three"):
        _require_status(client.read_response(), 200, f"GET {target}")
    return [client.finish()]


CHUNKS = (b"Hello, ", b"chunked ", b"world!\n")


def chunked(address: Address, deadline: float) -> list[Exchange]:
    """A chunked upload to /uploads (each chunk its own write, then a trailer field),
    and a GET of the stored upload, which the lab streams from disk as a chunked
    response: chunk-size lines, chunk data and the last chunk in both directions."""
    client = Client(address, deadline)
    client.send(
        request("POST", "/uploads", address,
                [("Transfer-Encoding", "chunked"), ("Trailer", "X-Checksum"),
                 ("Content-Type", "text/plain")])
    )
    for chunk in CHUNKS:
        client.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        time.sleep(0.02)  # let each chunk leave as its own segment
    client.send(b"0\r\nX-Checksum: 42\r\n\r\n")
    created = client.read_response("POST")
    _require_status(created, 201, "a chunked POST /uploads")
    location = created.header("Location") or ""
    client.send(request("GET", location, address, [("Connection", "close")]))
    stored = client.read_response()
    _require_status(stored, 200, f"GET {location}")
    _require("chunked" in (stored.header("Transfer-Encoding") or ""),
             f"GET {location} is not a chunked response")
    _require(stored.body == b"".join(CHUNKS), f"GET {location} gives other bytes than were uploaded")
    return [client.finish()]


def bad_request(address: Address, deadline: float) -> list[Exchange]:
    """A header line without a colon: the lab answers 400 and closes."""
    client = Client(address, deadline)
    client.send(b"GET / HTTP/1.1\r\nHost: %s:%d\r\nThis line has no colon\r\n\r\n"
                % (address[0].encode(), address[1]))
    _require_status(client.read_response(), 400, "a header line without a colon")
    return [client.finish()]


JOB_SECONDS = 0.5  # long enough for a few short polls, short enough for a test


def _start_job(client: Client, address: Address) -> str:
    """POST /jobs (lab/patterns/jobs.py): 202 Accepted and the handle in Location."""
    client.send(request("POST", "/jobs", address, [("Content-Type", "application/json")],
                        json.dumps({"seconds": JOB_SECONDS}).encode()))
    created = client.read_response("POST")
    _require_status(created, 202, "POST /jobs")
    location = created.header("Location")
    _require(bool(location), "POST /jobs answered 202 without a Location")
    return location or ""


def _job_state(response: Response, what: str) -> str:
    _require_status(response, 200, what)
    return json.loads(response.body or b"{}").get("state", "")


def shortpoll(address: Address, deadline: float) -> list[Exchange]:
    """POST /jobs, then GET its Location every 200 ms until the job is done."""
    client = Client(address, deadline)
    location = _start_job(client, address)
    state = ""
    for _ in range(30):
        client.send(request("GET", location, address))
        state = _job_state(client.read_response(), f"GET {location}")
        if state != "running":
            break
        time.sleep(0.2)
    _require(state == "done", f"the job is {state!r} after 30 polls, not 'done'")
    return [client.finish()]


def longpoll(address: Address, deadline: float) -> list[Exchange]:
    """POST /jobs, then one GET ?wait=5 that the lab holds until the job is done."""
    client = Client(address, deadline)
    location = _start_job(client, address)
    client.send(request("GET", f"{location}?wait=5", address, [("Connection", "close")]))
    state = _job_state(client.read_response(), f"GET {location}?wait=5")
    _require(state == "done", f"the long poll answered with the job {state!r}, not 'done'")
    return [client.finish()]


SSE_MESSAGES = (b"first", b"second")


def sse(address: Address, deadline: float) -> list[Exchange]:
    """Subscribe to /topics/T/events, publish two messages on a second connection,
    read their two events (ids 1 and 2), then leave."""
    topic = f"/topics/trace-{os.getpid()}"
    stream = Client(address, deadline)
    stream.send(request("GET", f"{topic}/events", address, [("Accept", "text/event-stream")]))
    status, headers = stream.read_head()
    if status != 200:
        stream.finish()
    _require_status(status, 200, f"GET {topic}/events")
    content_type = next((v for n, v in headers if n.lower() == "content-type"), "")
    _require(content_type.startswith("text/event-stream"), f"the event stream is {content_type!r}")
    publisher = Client(address, deadline)
    for message in SSE_MESSAGES:
        publisher.send(request("POST", topic, address, [("Content-Type", "text/plain")], message))
        _require_status(publisher.read_response("POST"), 201, f"POST {topic}")
    # Each event ends with a blank line (WHATWG HTML 9.2.6); the lab writes LF.
    while stream.received.count(b"\n\n") < len(SSE_MESSAGES) and not stream.eof:
        stream._recv()
    _require(b"id: 2\n" in stream.received, "the second event (id 2) did not arrive")
    return [stream.finish(), publisher.finish()]


def websocket(address: Address, deadline: float) -> list[Exchange]:
    """Upgrade on /topics/T/ws, send a masked text frame, read it pushed back, close.

    lab/patterns/websocket.py: what a client sends is published to the topic and
    pushed to every subscriber, the sender too; a Close is answered with a Close, then
    the lab closes TCP first (RFC 6455 7.1.1)."""
    topic = f"/topics/trace-ws-{os.getpid()}"
    key = base64.b64encode(os.urandom(16)).decode()
    client = Client(address, deadline)
    client.send(request("GET", f"{topic}/ws", address,
                        [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                         ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
    status, _ = client.read_head()
    if status != 101:
        client.finish()
    _require_status(status, 101, "the WebSocket upgrade")
    client.send(_masked_frame(0x1, b"hello from the client"))
    opcode = _read_frame(client)  # the lab pushes the published message back
    _require(opcode == 0x1, f"the push is a frame with opcode {opcode:#x}, not text")
    client.send(_masked_frame(0x8, (1000).to_bytes(2, "big")))
    while (opcode := _read_frame(client)) != 0x8:
        pass
    return [client.finish()]


UPLOAD_SIZE = 16 * 1024


def upload(address: Address, deadline: float) -> list[Exchange]:
    """tus (lab/patterns/tus.py): create, PATCH half the bytes and stop (the client
    half-closes in the middle of the body: the lab keeps what arrived and answers 400),
    then on a new connection HEAD for the offset, PATCH the rest, GET the whole file."""
    data = bytes(range(256)) * (UPLOAD_SIZE // 256)
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
    head = second.read_response("HEAD")
    _require_status(head, 200, f"HEAD {location}")
    offset = int(head.header("Upload-Offset") or -1)
    _require(offset == half, f"HEAD says Upload-Offset {offset}, but {half} bytes were sent")
    second.send(request("PATCH", location, address,
                        tus + [("Upload-Offset", str(offset)),
                               ("Content-Type", "application/offset+octet-stream")], data[offset:]))
    patched = second.read_response("PATCH")
    _require_status(patched, 204, f"the resumed PATCH {location}")
    _require(patched.header("Upload-Offset") == str(len(data)), "the resumed PATCH did not complete the upload")
    second.send(request("GET", location, address, [("Connection", "close")]))
    whole = second.read_response()
    _require_status(whole, 200, f"GET {location}")
    _require(whole.body == data, f"GET {location} gives other bytes than were uploaded")
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
        Scenario("chunked", "a chunked upload to /uploads and the GET of it, a chunked response from disk",
                 "lab", chunked, ("chunk-size line", "chunk data", "last chunk", "trailer field line", "status line")),
        Scenario("bad-request", "a malformed header line: the 400 answer and the close",
                 "hello", bad_request, ("request line", "malformed", "status line")),
        Scenario("upload", "resumable upload (tus): a dropped connection, HEAD, resume, GET",
                 "lab", upload, ("request line", "status line", "body", "incomplete message"), 20.0),
        Scenario("shortpoll", "POST /jobs then GET its handle until done, on one keep-alive connection",
                 "lab", shortpoll, ("request line", "status line", "body")),
        Scenario("longpoll", "POST /jobs then one GET ?wait= the lab holds until the job is done",
                 "lab", longpoll, ("request line", "status line", "body")),
        Scenario("sse", "an event stream of /topics/T/events and two publishes on another connection",
                 "lab", sse, ("status line", "chunk-size line", "SSE event")),
        Scenario("websocket", "a WebSocket upgrade, a masked client frame, the push, the close",
                 "lab", websocket, ("status line", "end of headers", "WebSocket frame")),
    )
}
