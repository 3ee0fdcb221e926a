"""Graceful shutdown under each I/O model: SIGTERM and SIGINT stop accepting, let the
answers in flight finish, close idle keep-alive connections at once, and exit 0 without
a traceback. Each test runs a server of its own (`fresh_server`) and signals that PID.
"""
from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import time

import pytest

from lab.config import IO_MODELS

from .conftest import Client

SIGNALS = [signal.SIGTERM, signal.SIGINT]
HOST = (b"Host", b"lab.test")


def assert_not_accepting(address) -> None:
    """New connections are refused (or, at worst, closed unanswered)."""
    try:
        sock = socket.create_connection(address, timeout=2)
    except ConnectionRefusedError:
        return
    with sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
        assert data == b"", f"a new connection was served after the signal: {data!r}"


def assert_clean_exit(server, within: float) -> None:
    """The signalled server exits by itself within `within` s: code 0, no traceback."""
    try:
        code = server.proc.wait(within)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{server!r} still running {within} s after the signal:\n"
                             f"{server.stderr()}") from None
    server.stopped = True  # judged here; the fixture need not signal it again
    server.proc.stdout.close()
    err = server.stderr()
    assert code == 0, f"exit code {code}:\n{err}"
    assert "Traceback" not in err, err


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("io", IO_MODELS)
def test_signal_lets_an_upload_in_flight_finish(io, sig, fresh_server):
    server = fresh_server(io, "echo")
    body = bytes(range(250)) * 80  # 20,000 bytes, sent in four pieces
    with Client(server.address) as c:
        c.send(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body), b"POST")
        c.send(body[:5000])
        time.sleep(0.1)  # the server is reading the body now
        server.proc.send_signal(sig)
        time.sleep(0.2)
        assert_not_accepting(server.address)
        for at in (5000, 10000, 15000):
            c.send(body[at : at + 5000])
            time.sleep(0.05)
        reply = c.read_response()
        assert reply.status == 200, reply
        assert base64.b64decode(json.loads(reply.body)["body_base64"]) == body
        assert reply.closes, "the answer during shutdown should say Connection: close"
        c.assert_closed()
    assert_clean_exit(server, within=3.0)


@pytest.mark.parametrize("io", IO_MODELS)
def test_sigterm_lets_a_large_response_in_flight_finish(io, fresh_server):
    # The echo of 2 MiB is ~2.8 MB of JSON: far more than the socket buffers hold, so it
    # is still being written (the client has not read yet) when the signal comes.
    server = fresh_server(io, "echo")
    body = b"z" * (2 << 20)
    with Client(server.address, timeout=10) as c:
        c.request(b"POST", b"/big", [HOST], body=body)
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        reply = c.read_response()
        assert reply.status == 200
        assert base64.b64decode(json.loads(reply.body)["body_base64"]) == body
        c.assert_closed()
    assert_clean_exit(server, within=3.0)


@pytest.mark.parametrize("io", IO_MODELS)
def test_idle_keep_alive_connections_do_not_delay_the_exit(io, fresh_server):
    server = fresh_server(io, "hello")
    # `blocking` serves one connection at a time: only the first is ever answered, the
    # others wait in the backlog (and are reset when the listener closes).
    served = 1 if io == "blocking" else 3
    clients = [Client(server.address) for _ in range(served + 1)]
    try:
        for client in clients[:served]:
            client.request(b"GET", b"/", [HOST])
            assert client.read_response().status == 200
        # clients[-1] connected and sent nothing at all
        time.sleep(0.1)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        for client in clients[:served]:
            client.assert_closed(timeout=2.0)
        assert_clean_exit(server, within=2.0)
        assert time.monotonic() - started < 2.0
    finally:
        for client in clients:
            client.close()


@pytest.mark.slow
def test_a_client_that_never_finishes_cannot_hold_the_exit_past_the_grace(fresh_server):
    # shutdown_grace is 5 s: then the server closes what is left and exits 0 anyway.
    # The six models wait out their grace side by side, to spend 5 s and not 30.
    servers = {io: fresh_server(io, "echo") for io in IO_MODELS}
    clients = []
    try:
        for server in servers.values():
            client = Client(server.address)
            client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part", b"POST")
            clients.append(client)
        time.sleep(0.2)
        for server in servers.values():
            server.proc.send_signal(signal.SIGTERM)
        problems = []
        for io, server in servers.items():
            try:
                assert_clean_exit(server, within=8.0)
            except AssertionError as exc:
                problems.append(f"{io}: {exc}")
        assert not problems, "\n".join(problems)
    finally:
        for client in clients:
            client.close()
