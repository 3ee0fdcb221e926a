"""Many long polls: what each I/O model does with hundreds of held requests.

- event loops (epoll, asyncio, uvloop): a held poll costs a registration, not a thread;
  500 of them wake on one publish while the server keeps answering others;
- pool: each held poll occupies a worker; with --workers 4, four polls hold the whole
  server and a fifth request waits in the queue until one of them ends (the lesson);
- disconnect: polls whose clients leave are noticed and their waiters freed.
"""
from __future__ import annotations

import json
import selectors
import socket
import time

import pytest

from protocols.http1 import NEED_DATA, Data, EndOfMessage, ResponseParser
from tests.lab.patterns_fixtures import (
    EVENT_LOOP_MODELS, http, raise_fd_limit, request_bytes, running_server, wait_until,
)


def waiters(server, topic: str) -> int:
    return http.get(server.url(f"/topics/{topic}/stats")).json()["waiters"]


def open_polls(server, topic: str, count: int, wait: float,
               close: bool = False) -> list[socket.socket]:
    headers = {"Connection": "close"} if close else {}
    request = request_bytes("GET", f"/topics/{topic}?after=0&wait={wait}", headers)
    socks = []
    for _ in range(count):
        sock = server.connect()
        sock.sendall(request)
        socks.append(sock)
    return socks


def read_all(socks: list[socket.socket], timeout: float) -> list[dict]:
    """Read one response from every socket at once (a selector, as a server would)."""
    selector = selectors.DefaultSelector()
    parsers, bodies, done = {}, {}, []
    for sock in socks:
        sock.setblocking(False)
        parsers[sock] = ResponseParser()
        parsers[sock].expect(b"GET")
        bodies[sock] = bytearray()
        selector.register(sock, selectors.EVENT_READ)
    give_up = time.monotonic() + timeout
    while len(done) < len(socks) and time.monotonic() < give_up:
        for key, _ in selector.select(max(0.0, give_up - time.monotonic())):
            sock = key.fileobj
            parser = parsers[sock]
            parser.receive_data(sock.recv(65536))
            while (event := parser.next_event()) is not NEED_DATA:
                if type(event) is Data:
                    bodies[sock] += event.data
                elif type(event) is EndOfMessage:
                    done.append(json.loads(bodies[sock]))
                    selector.unregister(sock)
                    break
    selector.close()
    return done


@pytest.mark.slow
@pytest.mark.parametrize("io", EVENT_LOOP_MODELS)
def test_500_long_polls_all_wake_on_one_publish_while_others_are_served(io, tmp_path):
    raise_fd_limit(1200)
    with running_server(io, tmp_path) as server:
        topic = "crowd"
        socks = open_polls(server, topic, 500, wait=30)
        try:
            assert wait_until(lambda: waiters(server, topic) == 500, 10)
            # Meanwhile the server answers everyone else at once.
            for path in ("/", "/topics/other?after=0", "/stats"):
                started = time.monotonic()
                assert http.get(server.url(path)).status_code == 200
                assert time.monotonic() - started < 0.5
            assert http.post(server.url("/topics/other"), content=b"x").status_code == 201
            published = time.monotonic()
            assert http.post(server.url(f"/topics/{topic}"), content=b"wake").status_code == 201
            answers = read_all(socks, timeout=10)
            last = time.monotonic() - published
        finally:
            for sock in socks:
                sock.close()
        assert len(answers) == 500
        assert all(a["messages"][0]["data"] == "wake" for a in answers)
        assert last < 3.0, f"the last of 500 was answered {last:.2f} s after the publish"
        assert wait_until(lambda: waiters(server, topic) == 0, 5)


@pytest.mark.slow
def test_pool_waiters_occupy_workers_and_a_fifth_request_waits(tmp_path):
    with running_server("pool", tmp_path, "--workers", "4") as server:
        # Three held polls leave a worker free: a request is answered at once.
        socks = open_polls(server, "busy", 3, wait=1.5)
        time.sleep(0.2)
        started = time.monotonic()
        assert http.get(server.url("/")).status_code == 200
        assert time.monotonic() - started < 0.5
        for sock in socks:
            sock.close()
        assert wait_until(lambda: waiters(server, "busy") == 0, 5)
        # Four held polls take every worker: the fifth request waits in the queue until
        # a poll reaches its deadline and frees its worker. (Connection: close, else the
        # worker would go on holding the kept-alive connection after the answer.)
        socks = open_polls(server, "busy", 4, wait=1.5, close=True)
        time.sleep(0.2)
        started = time.monotonic()
        assert http.get(server.url("/"), timeout=10).status_code == 200
        waited = time.monotonic() - started
        answers = read_all(socks, timeout=5)
        for sock in socks:
            sock.close()
        assert waited > 1.0, f"answered after {waited:.2f} s: a worker was free"
        assert [a["messages"] for a in answers] == [[]] * 4  # they timed out, empty


def hold_and_drop(server, topic: str, count: int) -> None:
    socks = open_polls(server, topic, count, wait=60)
    try:
        assert wait_until(lambda: waiters(server, topic) == count, 15), waiters(server, topic)
    finally:
        for sock in socks:
            sock.close()
    assert wait_until(lambda: waiters(server, topic) == 0, 5), waiters(server, topic)


@pytest.mark.slow
@pytest.mark.parametrize("io", EVENT_LOOP_MODELS)
def test_1000_dropped_long_polls_leave_no_waiter(io, tmp_path):
    raise_fd_limit(2200)
    with running_server(io, tmp_path) as server:
        hold_and_drop(server, "dropped", 1000)
        assert http.get(server.url("/stats")).json()["topic_waiters"] == 0


def test_50_dropped_long_polls_on_threads_leave_no_waiter(tmp_path):
    with running_server("threads", tmp_path) as server:
        hold_and_drop(server, "dropped", 50)


def test_the_benchmark_probes_measure_wakeup_and_delivery(tmp_path):
    from lab.patterns.probe import long_poll_wakeup, poll_delivery
    with running_server("asyncio", tmp_path) as server:
        wakeup = long_poll_wakeup(server.host, server.port, clients=50, timeout=10)
        assert (wakeup.held, wakeup.answered) == (50, 50)
        assert 0 <= wakeup.first <= wakeup.median <= wakeup.last < 2
        short = poll_delivery(server.host, server.port, mode="short", messages=8,
                              interval=0.03, poll_every=0.1, timeout=10)
        long = poll_delivery(server.host, server.port, mode="long", messages=8,
                             interval=0.03, timeout=10)
        assert short.delivered == long.delivered == 8
        assert long.median_latency < short.median_latency  # no waiting for the next poll
        assert long.bytes_received > 0 and short.requests > 0
