"""`GET /topics/{t}/ws` under every I/O model: the strict `websockets` client for what a
polite client does, raw sockets for what no polite client sends (RFC 6455)."""
from __future__ import annotations

import json
import socket
import struct
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from protocols.websocket import Close, FrameParser, Message, client_handshake_request
from protocols.websocket.frames import END_OF_STREAM, NEED_DATA, apply_mask
from lab.clients.push import WebSocketClient, get_json, publish
from tests.lab.push_fixtures import IO_MODELS, push_server, wait_until

pytestmark = pytest.mark.timeout(60)

SIZES = [0, 125, 126, 65535, 65536, 1 << 20]
NON_BLOCKING = [io for io in IO_MODELS if io != "blocking"]


@pytest.fixture(scope="module", params=IO_MODELS)
def server(request):
    with push_server(request.param) as server:
        yield server


@pytest.fixture(scope="module", params=NON_BLOCKING)
def concurrent_server(request):
    """For tests that need a second connection (publish, stats) while a socket is open:
    `blocking` cannot serve one (see test_blocking_serves_one_websocket_at_a_time)."""
    with push_server(request.param) as server:
        yield server


def ws_url(server, topic: str) -> str:
    return server.url(f"/topics/{topic}/ws", scheme="ws")


def fresh(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


# -- the strict client -----------------------------------------------------------------

def test_echo_round_trips_at_every_length_boundary_with_pings_on(server):
    topic = fresh("echo")
    with connect(ws_url(server, topic), max_size=None, ping_interval=0.05, ping_timeout=5,
                 compression=None, proxy=None) as ws:
        for offset, size in enumerate(SIZES, 1):
            text = "é" * (size // 2) + "x" * (size % 2)  # `size` bytes of UTF-8
            assert len(text.encode()) == size
            ws.send(text)
            assert json.loads(ws.recv(timeout=10)) == {"offset": offset, "data": text}
        ws.send(b"\x00\xffbinary")  # a binary message is published as its bytes
        assert json.loads(ws.recv(timeout=10)) == {
            "offset": len(SIZES) + 1, "data": "\x00\ufffdbinary", "data_base64": "AP9iaW5hcnk="}
        assert ws.ping(b"explicit").wait(5)  # the server answers with the same payload
        time.sleep(0.2)  # let the automatic pings (every 50 ms) run; each needs its Pong
        ws.close()
    assert ws.close_code == 1000


def test_topic_messages_are_pushed_in_order_with_their_offsets(concurrent_server):
    server = concurrent_server
    topic = fresh("push")
    publish(server.address, topic, b"before")  # held by the broker: sent on connect
    with connect(ws_url(server, topic), proxy=None) as ws:
        assert json.loads(ws.recv(timeout=5)) == {"offset": 1, "data": "before"}
        for i in range(2, 6):
            publish(server.address, topic, b"m%d" % i)
        assert [json.loads(ws.recv(timeout=5)) for _ in range(4)] == [
            {"offset": i, "data": f"m{i}"} for i in range(2, 6)]


def test_after_query_starts_after_that_offset(server):
    topic = fresh("after")
    for i in range(1, 4):
        publish(server.address, topic, b"m%d" % i)
    with connect(ws_url(server, topic) + "?after=2", proxy=None) as ws:
        assert json.loads(ws.recv(timeout=5)) == {"offset": 3, "data": "m3"}


@pytest.mark.parametrize("io", NON_BLOCKING)
def test_two_clients_chat(io):
    with push_server(io) as server:
        url = ws_url(server, "room")
        with connect(url, proxy=None) as alice, connect(url, proxy=None) as bob:
            alice.send("hi bob")
            bob.send("hi alice")
            seen_by_alice = [json.loads(alice.recv(timeout=5)) for _ in range(2)]
            seen_by_bob = [json.loads(bob.recv(timeout=5)) for _ in range(2)]
        # One log, one order: both see both messages, in the same order.
        assert seen_by_alice == seen_by_bob
        assert sorted(m["data"] for m in seen_by_alice) == ["hi alice", "hi bob"]
        assert [m["offset"] for m in seen_by_alice] == [1, 2]


def test_blocking_serves_one_websocket_at_a_time_so_a_chat_cannot_start():
    """The limit of `--io blocking`, shown rather than hidden: while Alice's socket is
    open the server is hers alone, so Bob's handshake is not even read."""
    with push_server("blocking") as server:
        url = ws_url(server, "room")
        with connect(url, proxy=None) as alice:
            with pytest.raises(TimeoutError):
                connect(url, proxy=None, open_timeout=0.5)
            alice.send("anyone?")
            assert json.loads(alice.recv(timeout=5))["data"] == "anyone?"
        with connect(url, proxy=None) as bob:  # served once Alice has left
            assert json.loads(bob.recv(timeout=5)) == {"offset": 1, "data": "anyone?"}


# -- the handshake ---------------------------------------------------------------------

def raw_exchange(server, request: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(server.address, timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def handshake(topic: str = "t", **replace: str | None) -> bytes:
    request, _ = client_handshake_request("127.0.0.1", f"/topics/{topic}/ws")
    lines = request.decode().split("\r\n")
    out = []
    for line in lines:
        name = line.split(":", 1)[0]
        if name in replace:
            if replace[name] is not None:
                out.append(f"{name}: {replace[name]}")
        else:
            out.append(line)
    return "\r\n".join(out).encode()


def test_wrong_version_is_426_with_the_version_we_speak__rfc6455_4_4(server):
    response = raw_exchange(server, handshake(**{"Sec-WebSocket-Version": "8"}))
    assert response.startswith(b"HTTP/1.1 426 ")
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in response


@pytest.mark.parametrize("change", [
    {"Sec-WebSocket-Key": None}, {"Sec-WebSocket-Key": "c2hvcnQ="},
    {"Upgrade": None}, {"Connection": "keep-alive"},
])
def test_bad_handshake_is_400__rfc6455_4_2_1(server, change):
    assert raw_exchange(server, handshake(**change)).startswith(b"HTTP/1.1 400 ")


def test_non_get_and_http10_handshakes_are_400(server):
    request = handshake()
    assert raw_exchange(server, request.replace(b"GET ", b"POST ", 1)).startswith(b"HTTP/1.1 400 ")
    assert raw_exchange(server, request.replace(b"HTTP/1.1", b"HTTP/1.0", 1)).startswith(b"HTTP/1.1 400 ")


def test_the_strict_client_accepts_our_101(server):
    with connect(ws_url(server, fresh("ok")), proxy=None) as ws:
        assert ws.response.status_code == 101


def test_the_strict_client_sees_our_400(server):
    with pytest.raises(InvalidStatus):
        connect(server.url("/topics/t/ws?after=x", scheme="ws"), proxy=None)


# -- frames no polite client sends: each gets its Close code, then TCP closes ------------

MASK = b"\x37\xfa\x21\x3d"


def frame(first: int, payload: bytes, *, masked: bool = True, length: int | None = None) -> bytes:
    n = len(payload) if length is None else length
    bit = 0x80 if masked else 0
    if n < 126:
        head = bytes([first, bit | n])
    elif n < 1 << 16:
        head = bytes([first, bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([first, bit | 127]) + struct.pack("!Q", n)
    return head + (MASK + apply_mask(payload, MASK) if masked else payload)


VIOLATIONS = {
    "unmasked client frame": (frame(0x81, b"hello", masked=False), 1002),
    "RSV1 set": (frame(0xC1, b"hello"), 1002),
    "RSV3 set": (frame(0x91, b"hello"), 1002),
    "reserved data opcode 0x3": (frame(0x83, b"x"), 1002),
    "reserved control opcode 0xB": (frame(0x8B, b"x"), 1002),
    "126-byte ping": (frame(0x89, b"p" * 126), 1002),
    "fragmented ping": (frame(0x09, b"ping"), 1002),
    "orphan continuation": (frame(0x80, b"more"), 1002),
    "invalid UTF-8 split across fragments": (
        frame(0x01, "ok 🎉".encode()[:-2]) + frame(0x80, b"\x28\x28"), 1007),
    "close code 999": (frame(0x88, struct.pack("!H", 999)), 1002),
    "close code 1005": (frame(0x88, struct.pack("!H", 1005)), 1002),
    "close code 1006": (frame(0x88, struct.pack("!H", 1006)), 1002),
    "close code 5000": (frame(0x88, struct.pack("!H", 5000)), 1002),
    "1-byte close body": (frame(0x88, b"\x03"), 1002),
    # Only the header is sent: the server must refuse without waiting for 16 MiB.
    "message over --max-body (16 MiB), refused on its length": (
        frame(0x81, b"", length=(16 << 20) + 1), 1009),
    # Fragments count together: 9 MiB, then the header of 8 MiB more.
    "fragmented message over --max-body": (
        frame(0x01, b"f" * (9 << 20)) + frame(0x80, b"", length=8 << 20), 1009),
}


def open_raw(server, topic: str) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(server.address, timeout=5)
    request, _ = client_handshake_request("127.0.0.1", f"/topics/{topic}/ws")
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101 ")
    return sock, rest


def read_until_eof(sock: socket.socket, rest: bytes = b"") -> list:
    parser = FrameParser(client_side=True)
    if rest:
        parser.receive_data(rest)
    events: list = []
    while True:
        event = parser.next_event()
        if event is END_OF_STREAM:
            return events
        if event is NEED_DATA:
            parser.receive_data(sock.recv(65536))  # b"" = the server closed TCP
        else:
            events.append(event)


@pytest.mark.parametrize("name", list(VIOLATIONS))
def test_violation_gets_its_close_code_then_tcp_closes(server, name):
    data, code = VIOLATIONS[name]
    sock, rest = open_raw(server, fresh("rude"))
    with sock:
        sock.sendall(data)
        events = read_until_eof(sock, rest)
    # Exactly one frame, the Close with the code, and nothing after it: then EOF.
    assert len(events) == 1 and isinstance(events[0], Close), events
    assert events[0].code == code


def test_close_handshake_echoes_the_code_then_tcp_closes_and_nothing_more_is_sent(server):
    topic = fresh("bye")
    sock, rest = open_raw(server, topic)
    with sock:
        sock.sendall(frame(0x88, struct.pack("!H", 1000) + b"done"))
        events = read_until_eof(sock, rest)
    assert events == [Close(1000, "")]
    publish(server.address, topic, b"too late")  # nobody is subscribed any more
    assert get_json(server.address, f"/topics/{topic}/stats")["waiters"] == 0


def test_ping_gets_a_pong_with_the_same_payload__rfc6455_5_5_3(server):
    with WebSocketClient(server.address, f"/topics/{fresh('ping')}/ws") as ws:
        ws.ping(b"\x00\x01 payload")
        event = ws.receive(timeout=5)
        assert type(event).__name__ == "Pong" and event.payload == b"\x00\x01 payload"
        assert ws.close(1000) == Close(1000, "")


def test_frames_sent_right_behind_the_handshake_are_read(server):
    topic = fresh("eager")
    sock = socket.create_connection(server.address, timeout=5)
    request, _ = client_handshake_request("127.0.0.1", f"/topics/{topic}/ws")
    with sock:
        sock.sendall(request + frame(0x81, b"early") + frame(0x88, struct.pack("!H", 1000)))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    rest = data.split(b"\r\n\r\n", 1)[1]
    parser = FrameParser(client_side=True)
    parser.receive_data(rest)
    assert parser.next_event() == Message(0x1, '{"offset":1,"data":"early"}')
    assert parser.next_event() == Close(1000, "")


def test_a_client_that_vanishes_is_unsubscribed(concurrent_server):
    server = concurrent_server
    topic = fresh("gone")
    sock, _ = open_raw(server, topic)
    assert get_json(server.address, f"/topics/{topic}/stats")["waiters"] == 1
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST, no Close frame
    assert wait_until(lambda: get_json(server.address, f"/topics/{topic}/stats")["waiters"] == 0, 5)
