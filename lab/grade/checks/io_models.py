"""Check bodies for exercise 05-io-models: the thread pool and the epoll event loop,
checked from outside.

The lab runs (``--app hello``) on the student's ``pool.py`` or ``epoll.py`` and the
grader behaves like the clients that break a serial server: several connections whose
requests are sent in reverse order of connecting, a client that sends half a request
and stalls while another is served, more clients than workers. The model itself is
read from ``/proc/PID/task``: one thread for epoll under any load, never more than
``--workers`` (plus the accepting thread) for the pool. A serial (one connection at a
time) server fails every concurrency check; a thread per connection fails the bounds.
"""
from __future__ import annotations

import socket
import time

from .scripts import Failed, Script, ScriptCheck, expect_status, request

WORKERS = 4
POOL = ("--app", "hello", "--io", "pool", "--workers", str(WORKERS))
EPOLL = ("--app", "hello", "--io", "epoll")
QUICK = 1.5  # seconds: a concurrent server answers a ready request well within this
HALF = b"GET /stalled HTTP/1.1\r\nHo"  # half a request, never finished

R_CONCURRENT = ("a concurrent server serves each connection as its bytes arrive, in any order: one client "
                "never waits for another (the lesson of lab/io/blocking.py)")
R_STALL = "a client that sends half a request and stalls holds at most its own thread or registration, never the server"
R_POOL = ("--io pool: a fixed pool of --workers threads; connections wait in a queue when every worker is busy, "
          "and threads never grow with the number of clients")
R_EPOLL = ("--io epoll: one thread, non-blocking sockets, selectors.DefaultSelector: waiting costs a registration, "
           "not a thread")


def _get(client, target: str) -> bytes:
    return request("GET", target)


def serves_keep_alive(client) -> None:
    sock = client.open()
    with sock:
        for target in ("/echo/one", "/echo/two"):
            data = _get(client, target)
            sock.sendall(data)
            expect_status(client.read(sock, data), 200, f"GET {target} on one kept-alive connection")


def reverse_order(client, n: int = 3) -> None:
    socks = [client.open() for _ in range(n)]
    try:
        time.sleep(0.1)  # every connection accepted (or queued) before any request
        for i in reversed(range(n)):
            data = _get(client, f"/echo/conn-{i}")
            socks[i].sendall(data)
            try:
                ex = client.read(socks[i], data, timeout=QUICK)
            except Failed:
                raise Failed(f"{n} connections open, requests sent last-connected first: connection {i + 1} of {n} "
                             f"got no answer within {QUICK} s. A server that serves one connection at a time waits "
                             "for the first connection's request and never sees this one") from None
            expect_status(ex, 200, f"connection {i + 1}")
    finally:
        for s in socks:
            s.close()


def stalled_client(client) -> None:
    stalled = client.open()
    try:
        stalled.sendall(HALF)
        client._note(HALF, b"(stalled: the rest never comes)")
        time.sleep(0.1)
        data = _get(client, "/echo/meanwhile")
        try:
            ex = client.request(data, timeout=QUICK)
        except Failed:
            raise Failed(f"while one client has sent half a request and stalls, another's whole request got no "
                         f"answer within {QUICK} s: the stalled client holds the server") from None
        expect_status(ex, 200, "the other client")
    finally:
        stalled.close()


def _threads_under(client, load) -> tuple[int | None, int | None]:
    before = client.threads()
    socks = load()
    try:
        time.sleep(0.3)
        during = client.threads()
    finally:
        for s in socks:
            s.close()
    return before, during


def pool_bounded(client) -> None:
    stalled = []
    try:
        for _ in range(WORKERS):
            s = client.open()
            s.sendall(HALF)
            stalled.append(s)
        time.sleep(0.2)
        extra = [client.open() for _ in range(8)]
        stalled += extra
        time.sleep(0.3)
        threads = client.threads()
        if threads is not None and threads > WORKERS + 2:
            raise Failed(f"{len(stalled)} clients connected, --workers {WORKERS}: the server has {threads} threads "
                         f"(/proc/PID/task). A pool keeps {WORKERS} workers and queues the rest")
        waiting = client.open()
        stalled.append(waiting)
        data = _get(client, "/echo/queued")
        waiting.sendall(data)
        waiting.settimeout(0.5)
        try:
            early = waiting.recv(1)
        except socket.timeout:
            early = b""
        if early:
            raise Failed(f"every one of the {WORKERS} workers is held by a stalled client, yet a new connection was "
                         "served at once: that is a thread per connection, not a bounded pool")
        for s in stalled[:WORKERS] + extra:
            s.close()  # the stalled clients leave: their workers take the queued connections
        try:
            ex = client.read(waiting, data, timeout=3.0)
        except Failed:
            raise Failed("the stalled clients left, but the queued connection was never served: a worker must "
                         "take the next queued connection when its own ends") from None
        expect_status(ex, 200, "the queued connection")
    finally:
        for s in stalled:
            s.close()


def epoll_one_thread(client) -> None:
    def load():
        socks = []
        for i in range(20):
            s = client.open()
            data = _get(client, f"/echo/idle-{i}")
            s.sendall(data)
            client.read(s, data)  # served, then kept alive and idle
            socks.append(s)
        for _ in range(5):
            s = client.open()
            s.sendall(HALF)
            socks.append(s)
        return socks

    before, during = _threads_under(client, load)
    if during is not None and during > 1:
        raise Failed(f"with 20 idle keep-alive clients and 5 stalled ones the server runs {during} threads "
                     f"(/proc/PID/task; {before} before the load). An event loop runs one thread")


def many_clients(client, n: int = 40) -> None:
    socks = [client.open() for _ in range(n)]
    try:
        for i, s in enumerate(socks):
            # Connection: close, so a pool's worker is free for the next client after each answer.
            s.sendall(request("GET", f"/echo/many-{i}", [("Connection", "close")]))
        for i, s in enumerate(socks):
            expect_status(client.read(s, timeout=3.0), 200, f"client {i + 1} of {n}")
    finally:
        for s in socks:
            s.close()


CHECKS = {
    # --- stage 1: the thread pool ---
    "pool-serves": ScriptCheck([Script("keep-alive", R_POOL, serves_keep_alive)], POOL),
    "pool-concurrent-connections": ScriptCheck([Script("reverse-order", R_CONCURRENT, reverse_order)], POOL),
    "pool-stalled-client": ScriptCheck([Script("half-request", R_STALL, stalled_client)], POOL),
    "pool-bounded": ScriptCheck([Script("workers-and-queue", R_POOL, pool_bounded)], POOL),
    # --- stage 2: the event loop ---
    "epoll-serves": ScriptCheck([Script("keep-alive", R_EPOLL, serves_keep_alive)], EPOLL),
    "epoll-concurrent-connections": ScriptCheck([Script("reverse-order", R_CONCURRENT, reverse_order)], EPOLL),
    "epoll-stalled-client": ScriptCheck([Script("half-request", R_STALL, stalled_client)], EPOLL),
    "epoll-one-thread": ScriptCheck([Script("threads-under-load", R_EPOLL, epoll_one_thread)], EPOLL),
}
