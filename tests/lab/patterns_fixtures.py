"""Servers as subprocesses and a raw HTTP client, for the pattern tests.

    with running_server("epoll", data_dir) as server:   # `lab serve --port 0`
        server.url("/topics/t")                          # http://127.0.0.1:PORT/topics/t
        status, headers, body = raw_request(server, b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")

A server is `python -m lab serve --app lab --io MODEL --port 0 --data-dir DIR` with the
repository root as cwd and PYTHONPATH; the listening line is read with a timeout, and
the server is stopped with SIGTERM to its own PID (then SIGKILL if it lingers).
"""
from __future__ import annotations

import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from protocols.http1 import NEED_DATA, Data, EndOfMessage, Response, ResponseParser
from tests.lab import servers
from tests.lab.servers import (  # noqa: F401  (re-exported for the pattern tests)
    CONCURRENT_MODELS, EVENT_LOOP_MODELS, IO_MODELS, ROOT, Server, wait_until,
)
from tests.skips import require

# One client for the whole session: building an httpx.Client costs 50-150 ms (its TLS
# context). No keep-alive: an idle pooled connection would hold the blocking server.
http = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


def start_server(io: str, data_dir: Path, *args: str, timeout: float = 15.0) -> Server:
    return servers.start_server(io, *args, data_dir=data_dir, timeout=timeout)


@contextmanager
def running_server(io: str, data_dir: Path, *args: str) -> Iterator[Server]:
    with servers.running_server(io, *args, data_dir=data_dir) as server:
        yield server


@pytest.fixture(scope="module", params=IO_MODELS)
def lab_server(request, tmp_path_factory) -> Iterator[Server]:
    """The lab app under each I/O model, one server per model per test module."""
    with running_server(request.param, tmp_path_factory.mktemp(request.param)) as server:
        yield server


# -- a raw client: exact bytes out, parsed response in ---------------------------------
def read_response(sock: socket.socket, method: bytes = b"GET",
                  parser: ResponseParser | None = None) -> tuple[int, dict[str, str], bytes]:
    """Read one final response: (status, headers with lower-case names, body)."""
    parser = parser or ResponseParser()
    parser.expect(method)
    status, headers, body = 0, {}, bytearray()
    while True:
        event = parser.next_event()
        if event is NEED_DATA:
            parser.receive_data(sock.recv(65536))
        elif type(event) is Response:
            status = event.status
            headers = {n.decode().lower(): v.decode("latin-1") for n, v in event.headers}
        elif type(event) is Data:
            body += event.data
        elif type(event) is EndOfMessage:
            if status >= 200:
                return status, headers, bytes(body)
            parser.expect(method)  # a 100 Continue: the final response follows
        else:
            raise ConnectionError("closed before a response")


def raw_request(server: Server, data: bytes, method: bytes | None = None,
                timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    with server.connect(timeout) as sock:
        sock.sendall(data)
        return read_response(sock, method or data.split(b" ", 1)[0])


def request_bytes(method: str, path: str, headers: dict[str, str] | None = None,
                  body: bytes | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def raise_fd_limit(needed: int) -> None:
    """Soft open-files limit up to the hard one (20,000 here; 65,536 is refused)."""
    hard = servers.raise_fd_limit()
    require(hard >= needed, f"needs {needed} open files, the hard limit is {hard}")
