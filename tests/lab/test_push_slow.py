"""A subscriber that stops reading is dropped by the documented policy (lab/patterns/sse.py,
"A client that stops reading"), while the others keep receiving, in order; a subscriber
that reads is never dropped, even for a message larger than the limit.

While bytes wait unsent, `epoll`, `asyncio` and `uvloop` hold the stream back until the
kernel takes them and drop the client after `keepalive_timeout` (1 s here); `threads`
and `pool` block its thread in `sendall()` for as long. 10 MiB are published, more than
the kernel's socket buffers and the 1 MiB `max_send_buffer` together.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from protocols.websocket import client_handshake_request
from lab.clients.push import SSEClient, WebSocketClient, get_json, publish
from tests.lab.push_fixtures import push_server, wait_until

pytestmark = pytest.mark.timeout(90)

MESSAGES, SIZE = 160, 64 * 1024  # 10 MiB in all


@pytest.fixture(scope="module", params=["epoll", "asyncio", "uvloop", "threads", "pool"])
def server(request):
    with push_server(request.param, "--keepalive-timeout", "1") as server:
        yield server


def stalled_subscriber(server, kind: str, topic: str) -> socket.socket:
    """Subscribe, read the response head, then never read again (a tiny receive buffer,
    so the kernel cannot hide the stall)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(server.address)
    if kind == "sse":
        sock.sendall(f"GET /topics/{topic}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    else:
        sock.sendall(client_handshake_request("x", f"/topics/{topic}/ws")[0])
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith((b"HTTP/1.1 200 ", b"HTTP/1.1 101 "))
    return sock


def read_all(server, kind: str, topic: str, got: list, ready: threading.Event) -> None:
    if kind == "sse":
        with SSEClient(server.address, topic, timeout=30) as sse:
            ready.set()
            got.extend(int(e.last_event_id) for e in sse.iter_events(MESSAGES, timeout=30))
    else:
        with WebSocketClient(server.address, f"/topics/{topic}/ws", timeout=30) as ws:
            ready.set()
            while len(got) < MESSAGES:
                got.append(ws.receive_json(timeout=30)["offset"])


@pytest.mark.parametrize("kind", ["sse", "ws"])
def test_a_stalled_subscriber_is_dropped_and_the_others_keep_receiving(server, kind):
    topic = f"slow-{kind}-{time.monotonic_ns()}"
    stalled = stalled_subscriber(server, kind, topic)
    got: list[int] = []
    ready = threading.Event()
    reader = threading.Thread(target=read_all, args=(server, kind, topic, got, ready), daemon=True)
    reader.start()
    assert ready.wait(10)
    assert wait_until(lambda: get_json(server.address, f"/topics/{topic}/stats")["waiters"] == 2, 5)
    body = b"x" * SIZE
    for _ in range(MESSAGES):
        publish(server.address, topic, body)
    reader.join(60)
    assert got == list(range(1, MESSAGES + 1))  # the reader got every message, in order
    # The stalled one was dropped and its subscription freed.
    assert wait_until(lambda: get_json(server.address, f"/topics/{topic}/stats")["waiters"] == 0, 10)
    stalled.close()


@pytest.mark.parametrize("kind", ["sse", "ws"])
def test_a_reader_of_messages_larger_than_the_send_limit_is_not_dropped(server, kind):
    topic = f"big-{kind}-{time.monotonic_ns()}"
    got: list[int] = []
    ready = threading.Event()
    # Far past the kernel's socket buffers too, and back to back: no time to drain.
    sizes = [12 << 20] + [10] * (MESSAGES - 1)
    reader = threading.Thread(target=read_all, args=(server, kind, topic, got, ready), daemon=True)
    reader.start()
    assert ready.wait(10)
    assert wait_until(lambda: get_json(server.address, f"/topics/{topic}/stats")["waiters"] == 1, 5)
    for size in sizes:
        publish(server.address, topic, b"y" * size)
    reader.join(60)
    assert got == list(range(1, MESSAGES + 1))
