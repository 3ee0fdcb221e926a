"""Check bodies for exercise 06-asyncio-offload: asyncio streams, and blocking work moved
off the event loop (the "readFile with a callback" lesson).

The lab runs (``--app lab --io asyncio``) on the student's ``streams.py`` and
``offload.py``. ``GET /work?ms=N`` blocks for N ms (a stand-in for a slow disk read),
inline on the loop, or with ``&offload=1`` on a worker thread. The checks time the lab
from outside: twenty offloaded 200 ms calls at once must finish in well under 20 x 200
ms, and the loop must answer another client promptly while they run.
"""
from __future__ import annotations

import time

from .io_models import reverse_order, serves_keep_alive, stalled_client
from .scripts import Failed, Script, ScriptCheck, expect_status, request

ASYNCIO = ("--app", "lab", "--io", "asyncio")
N, MS = 20, 200
CONCURRENT_LIMIT = 2.0  # seconds, for 20 x 200 ms = 4 s of blocking work
RESPONSIVE_LIMIT = 0.25  # seconds for GET /echo while offloaded work runs

R_STREAMS = ("--io asyncio: one coroutine per connection awaiting reader.read(); waiting costs a suspended "
             "coroutine, not a thread")
R_OFFLOAD = ("a blocking call made on the event loop's thread stalls every client; offload(fn) runs it on a worker "
             "thread and wakes the connection when it is done (loop.call_soon_threadsafe)")


def one_thread(client) -> None:
    def load():
        socks = []
        for i in range(20):
            s = client.open()
            data = request("GET", f"/echo/idle-{i}")
            s.sendall(data)
            client.read(s, data)
            socks.append(s)
        for _ in range(5):
            s = client.open()
            s.sendall(b"GET /echo HTTP/1.1\r\nHo")
            socks.append(s)
        return socks

    socks = load()
    try:
        time.sleep(0.3)
        during = client.threads()
    finally:
        for s in socks:
            s.close()
    if during is not None and during > 1:
        raise Failed(f"with 20 idle keep-alive clients and 5 stalled ones the server runs {during} threads "
                     "(/proc/PID/task): asyncio streams run one thread until work is offloaded")


def _start_work(client, n: int, ms: int, offload: bool = True):
    socks = []
    for i in range(n):
        s = client.open()
        s.sendall(request("GET", f"/work?ms={ms}&offload={1 if offload else 0}&n={i}"))
        socks.append(s)
    return socks


def concurrent_work(client) -> None:
    started = time.monotonic()
    socks = _start_work(client, N, MS)
    try:
        for i, s in enumerate(socks):
            ex = client.read(s, request("GET", f"/work?ms={MS}&offload=1&n={i}"), timeout=8.0)
            expect_status(ex, 200, f"/work request {i + 1}")
            if ex.head.get("body") != b"worked 200 ms\n":
                raise Failed(f"/work answered {ex.head.get('body')!r}, expected b'worked 200 ms\\n'")
    finally:
        for s in socks:
            s.close()
    took = time.monotonic() - started
    if took > CONCURRENT_LIMIT:
        raise Failed(f"{N} concurrent GET /work?ms={MS}&offload=1 took {took:.2f} s: run one after another they take "
                     f"{N * MS / 1000:g} s; offloaded to a pool of threads, well under {CONCURRENT_LIMIT:g} s")


def responsive(client) -> None:
    """While six offloaded 500 ms calls run, another client's GET /echo/ping must be
    answered at once. Tried twice, the better time counts: a loop that runs the calls
    itself is slow both times (it answers only when a call ends, 0.4 s later at best),
    while a loop that only lost the CPU for a moment to another process is not."""
    took = []
    for _ in range(2):
        socks = _start_work(client, 6, 500)
        try:
            time.sleep(0.1)  # the work is running
            started = time.monotonic()
            ex = client.request(request("GET", "/echo/ping"), timeout=3.0)
            took.append(time.monotonic() - started)
            expect_status(ex, 200, "GET /echo/ping")
            for s in socks:
                expect_status(client.read(s, timeout=5.0), 200, "an offloaded /work")
        finally:
            for s in socks:
                s.close()
        if took[-1] <= RESPONSIVE_LIMIT:
            return
    raise Failed(f"while six offloaded /work?ms=500 ran, GET /echo/ping took {took[0]:.2f} s, and "
                 f"{took[1]:.2f} s when tried again (limit {RESPONSIVE_LIMIT} s): the blocking work ran on "
                 "the event loop's thread")


def pipelined_work(client) -> None:
    sock = client.open()
    with sock:
        data = (request("GET", "/work?ms=150&offload=1") + request("GET", "/work?ms=10&offload=1")
                + request("GET", "/echo/after"))
        sock.sendall(data)
        first = client.read(sock, data, timeout=5.0)
        second = client.read(sock, timeout=5.0)
        third = client.read(sock, timeout=5.0)
    bodies = [first.head.get("body"), second.head.get("body"), b"/echo/after" in (third.head.get("body") or b"")]
    if bodies != [b"worked 150 ms\n", b"worked 10 ms\n", True]:
        raise Failed(f"three pipelined requests (two offloaded, the shorter second) must be answered in order; got "
                     f"{bodies!r}")


CHECKS = {
    # --- stage 1: asyncio streams ---
    "asyncio-serves": ScriptCheck([Script("keep-alive", R_STREAMS, serves_keep_alive)], ASYNCIO),
    "asyncio-concurrent-connections": ScriptCheck([Script("reverse-order", R_STREAMS, reverse_order)], ASYNCIO),
    "asyncio-stalled-client": ScriptCheck([Script("half-request", R_STREAMS, stalled_client)], ASYNCIO),
    "asyncio-one-thread": ScriptCheck([Script("threads-under-load", R_STREAMS, one_thread)], ASYNCIO),
    # --- stage 2: blocking work off the loop ---
    "offload-concurrent-work": ScriptCheck([Script("twenty-times-200ms", R_OFFLOAD, concurrent_work)], ASYNCIO),
    "offload-keeps-loop-responsive": ScriptCheck([Script("echo-while-working", R_OFFLOAD, responsive)], ASYNCIO),
    "offload-pipelined-in-order": ScriptCheck([Script("three-pipelined", R_OFFLOAD, pipelined_work)], ASYNCIO),
}
